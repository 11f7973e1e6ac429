//! A test server on a thread of its own, running the test's application:
//! a closure called for every event of every batch, with calls from the
//! test run between two polls. Dropping it stops the thread (and fails
//! the test if the thread panicked).

use super::calls::Call;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use wsrt::{Event, Events, Server};

pub struct AppThread {
    calls: Sender<Call>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl AppThread {
    pub fn start(
        mut server: Server,
        mut app: impl FnMut(&mut Server, &Event, &Events) + Send + 'static,
    ) -> AppThread {
        let (calls, call_rx) = mpsc::channel::<Call>();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut events = Events::new();
            while !stopped.load(Ordering::SeqCst) {
                server
                    .poll(&mut events, Some(Duration::from_millis(2)))
                    .expect("poll");
                for ev in &events {
                    app(&mut server, ev, &events);
                }
                while let Ok(call) = call_rx.try_recv() {
                    call(&mut server);
                }
            }
        });
        AppThread {
            calls,
            stop,
            thread: Some(thread),
        }
    }

    /// Runs `f` on the server's thread; returns its result.
    pub fn call<R: Send + 'static>(&self, f: impl FnOnce(&mut Server) -> R + Send + 'static) -> R {
        super::calls::call(&self.calls, f)
    }
}

impl Drop for AppThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let r = t.join();
            if r.is_err() && !std::thread::panicking() {
                panic!("server thread panicked");
            }
        }
    }
}
