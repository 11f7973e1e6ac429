//! Calls run on a test server's own thread: the test sends a closure and
//! waits for its result.

use std::sync::mpsc::{self, Sender};
use std::time::Duration;
use wsrt::Server;

const WAIT: Duration = Duration::from_secs(15);

/// What the server thread runs between two polls.
pub type Call = Box<dyn FnOnce(&mut Server) + Send>;

/// Runs `f` on the server thread that reads `calls`; returns its result.
pub fn call<R: Send + 'static>(
    calls: &Sender<Call>,
    f: impl FnOnce(&mut Server) -> R + Send + 'static,
) -> R {
    let (tx, rx) = mpsc::channel();
    calls
        .send(Box::new(move |s| {
            let _ = tx.send(f(s));
        }))
        .unwrap();
    rx.recv_timeout(WAIT).expect("server thread ran the call")
}
