//! A webhook receiver for the notification tests: a tiny HTTP server on 127.0.0.1 that
//! answers every POST 200 and keeps the headers and JSON body of each.

#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// One request the webhook receiver got: its headers (lowercase names) and JSON body.
#[derive(Clone, Debug)]
pub struct Hook {
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

/// A tiny HTTP receiver: answers every POST 200 and keeps what it got.
pub struct Receiver {
    pub url: String,
    got: Arc<Mutex<Vec<Hook>>>,
}

impl Receiver {
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let store = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let mut reader = BufReader::new(stream);
                let mut headers = Vec::new();
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                loop {
                    line.clear();
                    reader.read_line(&mut line).unwrap();
                    let l = line.trim_end();
                    if l.is_empty() {
                        break;
                    }
                    let (k, v) = l.split_once(':').unwrap();
                    headers.push((k.to_lowercase(), v.trim().to_string()));
                }
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .map_or(0, |(_, v)| v.parse().unwrap());
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                let body = serde_json::from_slice(&body).unwrap();
                store.lock().unwrap().push(Hook { headers, body });
                let mut s = reader.into_inner();
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Receiver { url, got }
    }

    pub fn got(&self) -> Vec<Hook> {
        self.got.lock().unwrap().clone()
    }

    pub fn titles(&self) -> Vec<String> {
        self.got()
            .iter()
            .map(|h| h.body["title"].as_str().unwrap().to_string())
            .collect()
    }
}
