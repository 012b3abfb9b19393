//! The assistant config at the gateway: a broken one stops start-up with
//! file:line errors; a running gateway reloads a changed file and keeps its
//! last good config when the change is broken.

use std::time::Duration;

use voxbook_tests::{Backend, TestGateway};

const SHIPPED: &str = include_str!("../../dialogue/assistants/travel.yaml");

fn temp_yaml(text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("voxbook-assistant-{}.yaml", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_refuses_to_start_on_a_broken_config() {
    let path = temp_yaml(&SHIPPED.replacen("    type: nights\n", "    type: nites\n", 1));
    let backend = Backend::redis_sqlite();
    let mut config = backend.config();
    config.assistant = Some(path.clone());
    let err = match TestGateway::start_config(&backend, config).await {
        Ok(_) => panic!("a gateway started on a broken config"),
        Err(e) => format!("{e:#}"),
    };
    let line = SHIPPED.lines().position(|l| l == "    type: nights").unwrap() + 1;
    assert!(err.contains(&format!("{}:{line}:", path.display())), "{err}");
    assert!(err.contains("unknown slot type 'nites'"), "{err}");
}

async fn greeting(gateway: &TestGateway) -> String {
    let created: serde_json::Value =
        gateway.client.post(gateway.url("/v1/sessions")).send().await.unwrap().json().await.unwrap();
    created["greeting"].as_str().unwrap().to_string()
}

async fn eventually(gateway: &TestGateway, want: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        last = greeting(gateway).await;
        if last.contains(want) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_config_is_reloaded_and_a_broken_one_is_not() {
    let path = temp_yaml(SHIPPED);
    let backend = Backend::redis_sqlite();
    let mut config = backend.config();
    config.assistant = Some(path.clone());
    config.config_poll = Some(Duration::from_millis(50));
    let gateway = TestGateway::start_config(&backend, config).await.unwrap();
    assert!(greeting(&gateway).await.starts_with("Hello, this is voxbook"));

    // A live session keeps working across reloads.
    let id = gateway.session("2030-06-03T09:00:00Z").await.unwrap();
    assert_eq!(gateway.turn(&id, "i need a hotel in rome").await.unwrap().0, 200);

    let renamed = SHIPPED.replacen("Hello, this is voxbook.", "Welcome to voxbook travel.", 1);
    // mtime has a coarse resolution on some filesystems: make sure it moves.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    std::fs::write(&path, &renamed).unwrap();
    assert!(eventually(&gateway, "Welcome to voxbook travel.").await.starts_with("Welcome"));

    tokio::time::sleep(Duration::from_millis(1100)).await;
    std::fs::write(&path, renamed.replacen("version: 1", "version: [", 1)).unwrap();
    // Give the watcher several polls; the last good config stays.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(greeting(&gateway).await.starts_with("Welcome to voxbook travel."));
    let (status, body) = gateway.turn(&id, "for two nights from the tenth of june").await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["awaiting"], "guests");

    let (_, metrics) = {
        let r = gateway.client.get(gateway.url("/metrics")).send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    };
    assert!(metrics.contains("voxbook_config_reloads_total{result=\"ok\"} 1"), "{metrics}");
    assert!(metrics.contains("voxbook_config_reloads_total{result=\"rejected\"} 1"), "{metrics}");
    gateway.stop().await.unwrap();
}
