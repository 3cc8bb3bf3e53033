//! The set-up around the engine, as the agent reads it: sign-in requests and failures, lasting
//! caveats, and why the sync cannot run. The engine runs from the first second (before any
//! cloud is signed in), so these are part of its snapshot instead of a second channel.

use crate::io::{Link, SetupNews};

use super::Engine;

/// What the set-up has said so far.
#[derive(Debug, Default)]
pub(super) struct Setup {
    /// [`crate::Input::Started`] has come: both clouds are signed in and the sync runs.
    pub(super) started: bool,
    /// Per link: the sign-in the agent is asked for, or why the last one failed.
    sign_in: [Option<String>; 2],
    /// Lasting caveats, oldest first, each once.
    caveats: Vec<String>,
    /// Why the sync cannot run, once it cannot.
    pub(super) cannot_run: Option<String>,
}

impl Setup {
    /// The lines the snapshot shows for the set-up, most important first.
    pub(super) fn problems(&self) -> impl Iterator<Item = &String> + Clone {
        self.cannot_run
            .iter()
            .chain(self.sign_in.iter().flatten())
            .chain(self.caveats.iter())
    }

    /// `link` is signed in: its request or failure is of no use any more.
    pub(super) fn signed_in(&mut self, link: Link) {
        self.sign_in[link_index(link)] = None;
    }
}

fn link_index(link: Link) -> usize {
    match link {
        Link::Teams => 0,
        Link::Salesforce => 1,
    }
}

impl Engine {
    pub(super) fn on_setup(&mut self, news: SetupNews) {
        match news {
            SetupNews::CallCenter(call_center) if !self.setup.started => self.cc = *call_center,
            SetupNews::CallCenter(_) => self.diagnostic(
                "a Call Center read after the start was ignored (it applies at the next start)"
                    .into(),
            ),
            SetupNews::SignInAsked { link, text } => {
                self.setup.sign_in[link_index(link)] = Some(text);
            }
            SetupNews::SignInFailed { link, reason } => {
                self.setup.sign_in[link_index(link)] = Some(format!(
                    "The sign-in to {} failed: {reason}",
                    link.cloud_name()
                ));
            }
            SetupNews::Caveat { text } => {
                if !self.setup.caveats.contains(&text) {
                    self.setup.caveats.push(text);
                }
            }
            SetupNews::CannotRun { reason } => {
                self.links.not_running();
                self.setup.cannot_run = Some(reason);
            }
        }
    }
}
