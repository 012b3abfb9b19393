//! Digressions always come back: a status question, help or a recap in
//! the middle of a booking returns to the booking whether the digression
//! succeeds, fails (no such booking) or is dropped ("never mind", or an
//! answer that is not one), and the resume prompt says where we were.

use super::flow::Outcome;
use super::{Engine, Turn, no_values, render};
use crate::assistant::Assistant;
use crate::nlu::Understanding;
use crate::nlu::assign::{SlotContext, assign};
use crate::state::SessionState;

impl Engine {
    /// True when the active flow is a digression with a flow set aside.
    pub(super) fn in_digression(&self, a: &Assistant, state: &SessionState) -> bool {
        !state.suspended.is_empty()
            && state.flow.as_ref().and_then(|f| a.flow(&f.name)).is_some_and(|def| def.digression)
    }

    /// Ends the digression without finishing it and goes back.
    pub(super) fn drop_digression(&self, a: &Assistant, state: &mut SessionState, turn: &mut Turn) {
        let Some(flow) = state.flow.take() else { return };
        turn.say(render(&a.messages.digression_dropped, &no_values()));
        self.settle(a, state, flow, Outcome::Dropped, turn);
    }

    /// An answer during a digression that belongs to the flow set aside
    /// ("from boston" while asked for a booking reference): true when
    /// the set-aside flow's slots take some of its values.
    pub(super) fn answers_suspended(&self, a: &Assistant, state: &SessionState, u: &Understanding) -> bool {
        let Some(suspended) = state.suspended.last() else { return false };
        let Some(def) = a.flow(&suspended.name) else { return false };
        let slots = def.all_slots();
        let ctx = SlotContext {
            slots: &slots,
            filled: &suspended.slots,
            filled_order: &suspended.filled_order,
            awaiting: suspended.awaiting.as_deref(),
            correction: u.correction,
        };
        !assign(a, &u.words, &u.entities, &ctx).is_empty()
    }
}
