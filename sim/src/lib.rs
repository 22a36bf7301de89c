//! seh-sim: a simulator of the SolarEdge Monitoring API V2, strict enough to test a
//! harvester against. See sim/README.md for the flags and ARCHITECTURE.md for the map.

pub mod gen;
pub mod scenario;
pub mod time;

pub mod app;
pub mod clock;
pub mod faults;
pub mod fleet;
pub mod http;
pub mod oauth;
pub mod ratelimit;
pub mod rng;
pub mod windows;

use std::sync::Arc;

/// A simulator serving on a background thread (used by `main` and by seh's tests).
pub struct Running {
    /// `http://ADDR`; the API is under `{url}/v2`.
    pub url: String,
    pub app: Arc<app::App>,
    handle: http::ServerHandle,
}

impl Running {
    /// Base URL of the V2 API, as seh's `[api] base_url` wants it.
    pub fn base_url(&self) -> String {
        format!("{}/v2", self.url)
    }

    /// Stop serving and wait for the accept loop to end.
    pub fn shutdown(self) {
        self.handle.shutdown();
    }

    /// Block until the process is killed.
    pub fn wait(self) {
        loop {
            std::thread::park();
        }
    }
}

/// Bind `listen` (port 0 picks a free port) and serve the simulated API.
pub fn start(opts: app::SimOptions, listen: &str) -> Result<Running, String> {
    let app = Arc::new(app::App::new(opts)?);
    let server =
        http::Server::bind(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let handler_app = app.clone();
    let handle = http::spawn(server, Arc::new(move |req| handler_app.handle(req)));
    Ok(Running {
        url: handle.url(),
        app,
        handle,
    })
}
