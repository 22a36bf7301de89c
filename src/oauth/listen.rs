//! `seh auth login --listen ADDR`: a one-shot HTTP listener that catches the browser's
//! redirect when the browser runs on the same host (the Redirect URL registered for the
//! application is then `http://ADDR/callback`). It reads one `GET` whose query carries a
//! `code` (or an `error`), answers a small HTML page, and stops. Plain std networking: no
//! server framework for one request.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Longest request head read.
const MAX_HEAD: usize = 16 * 1024;

/// Binds `addr`; anything but a loopback address is allowed with a warning (the code then
/// travels over the network in clear text).
pub fn bind(addr: &str) -> io::Result<TcpListener> {
    let l = TcpListener::bind(addr)?;
    if !l.local_addr()?.ip().is_loopback() {
        log::warn!(
            "listening on {addr}, which is not a loopback address: the authorization code \
             crosses the network unencrypted"
        );
    }
    Ok(l)
}

/// Waits until `deadline` for the redirect. Requests that are not it (a favicon, a probe)
/// get a 404 and the wait goes on. Returns the open connection and the request target
/// (`/callback?code=…`), `None` at the deadline, or `Interrupted` when `stop` is set.
pub fn wait(
    listener: &TcpListener,
    deadline: Instant,
    stop: &AtomicBool,
) -> io::Result<Option<(TcpStream, String)>> {
    listener.set_nonblocking(true)?;
    loop {
        match listener.accept() {
            Ok((mut stream, _)) => {
                stream.set_nonblocking(false)?;
                stream.set_read_timeout(Some(Duration::from_secs(10)))?;
                let Some(target) = read_target(&mut stream) else {
                    let _ = respond_raw(&mut stream, 400, "Bad Request", "not a GET request");
                    continue;
                };
                let query = target.split_once('?').map_or("", |(_, q)| q);
                let is_callback = query
                    .split('&')
                    .any(|p| p.starts_with("code=") || p.starts_with("error="));
                if is_callback {
                    return Ok(Some((stream, target)));
                }
                let _ = respond_raw(
                    &mut stream,
                    404,
                    "Not Found",
                    "seh is waiting for the SolarEdge redirect here.",
                );
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if stop.load(Ordering::SeqCst) {
                    return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
                }
                if Instant::now() >= deadline {
                    return Ok(None);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The target of a `GET` request line, once the whole head has arrived.
fn read_target(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(_) => return None,
        }
    }
    let text = String::from_utf8_lossy(&head);
    let line = text.lines().next()?;
    let mut parts = line.split_whitespace();
    (parts.next()? == "GET").then_some(())?;
    parts.next().map(str::to_string)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn respond_raw(stream: &mut TcpStream, status: u16, reason: &str, message: &str) -> io::Result<()> {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>seh</title></head>\
         <body><h1>seh</h1><p>{}</p></body></html>\n",
        escape(message)
    );
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}

/// Answers the browser with the outcome of the login (never a code or token: `message` is
/// written by seh).
pub fn respond(mut stream: TcpStream, ok: bool, message: &str) {
    let (status, reason) = if ok {
        (200, "OK")
    } else {
        (400, "Bad Request")
    };
    let text = format!("{message} You can close this tab.");
    if let Err(e) = respond_raw(&mut stream, status, reason, &text) {
        log::debug!("could not answer the browser: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catches_one_callback_and_answers_others_404() {
        let l = bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let browser = std::thread::spawn(move || {
            let get = |target: &str| {
                let mut s = TcpStream::connect(addr).unwrap();
                write!(s, "GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
                let mut out = String::new();
                s.read_to_string(&mut out).unwrap();
                out
            };
            let first = get("/favicon.ico");
            let second = get("/callback?code=C&site_id=1&state=s");
            (first, second)
        });
        let stop = AtomicBool::new(false);
        let deadline = Instant::now() + Duration::from_secs(10);
        let (stream, target) = wait(&l, deadline, &stop).unwrap().unwrap();
        assert_eq!(target, "/callback?code=C&site_id=1&state=s");
        respond(stream, true, "Site 1 <ok>.");
        let (first, second) = browser.join().unwrap();
        assert!(first.starts_with("HTTP/1.1 404"), "{first}");
        assert!(second.starts_with("HTTP/1.1 200"), "{second}");
        assert!(second.contains("Site 1 &lt;ok&gt;."), "{second}");
        // The deadline ends the wait.
        let past = Instant::now();
        assert!(wait(&l, past, &stop).unwrap().is_none());
    }
}
