//! Quitting (L7): log out first, wait at most the grace time for those writes, then ask the
//! edges to shut down.

use crate::config::Timing;
use crate::io::{Effect, Source};

use super::timers::Timer;
use super::Engine;

/// The quit part; its deadline is [`Timer::QuitGrace`].
#[derive(Debug, Default)]
pub(super) struct Quit {
    quitting: bool,
    /// [`Effect::Shutdown`] has been sent: nothing more is woken for.
    pub(super) shutdown_sent: bool,
}

impl Engine {
    pub(super) fn on_quit(&mut self) {
        if self.quit.quitting {
            return;
        }
        self.quit.quitting = true;
        self.timers.set(
            Timer::QuitGrace,
            self.now + Timing::ms(self.timing.quit_grace_ms),
        );
        if self.cc.settings().logout_on_quit && !self.logged_out() {
            let logout = self.cc.logout().label.clone();
            self.set_current(&logout, Source::Tray);
        }
    }

    /// Shuts down once both sides have taken the logout (or cannot take it).
    pub(super) fn maybe_finish_quit(&mut self) {
        if !self.quit.quitting || self.quit.shutdown_sent {
            return;
        }
        if self.teams_settled() && self.salesforce_settled() {
            self.shut_down();
        }
    }

    /// [`Timer::QuitGrace`]: waited long enough for the logout writes.
    pub(super) fn quit_grace_over(&mut self) {
        if !self.quit.shutdown_sent {
            self.shut_down();
        }
    }

    fn shut_down(&mut self) {
        self.quit.shutdown_sent = true;
        self.effects.push(Effect::Shutdown);
    }
}
