//! Throw-away PostgreSQL databases for tests: each test run gets a fresh
//! database with a random name on the machine's server, dropped afterwards.

use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// Where the admin connection goes (override with VOXBOOK_TEST_POSTGRES_URL).
pub fn admin_url() -> String {
    std::env::var("VOXBOOK_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub struct TempDatabase {
    pub url: String,
    name: String,
}

impl TempDatabase {
    pub async fn create() -> anyhow::Result<TempDatabase> {
        let admin = admin_url();
        let name = format!("voxbook_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&admin).await?;
        // The name is ours (a UUID), never input.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await?;
        conn.close().await?;
        let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin);
        Ok(TempDatabase { url: format!("{base}/{name}"), name })
    }

    pub async fn drop_now(self) -> anyhow::Result<()> {
        let mut conn = PgConnection::connect(&admin_url()).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        Ok(())
    }
}
