//! A loopback stand-in for Microsoft's "Office 365 IP Address and URL web service": real
//! HTTP/1.1 on a real socket, answering `/version/Worldwide` and `/endpoints/Worldwide` as
//! the test says, and recording every request (line and headers) it was sent.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A list in Microsoft's format whose set 2 names outlook.office365.com with `range`.
pub fn list_json(range: &str) -> String {
    format!(
        r#"[{{"id":2,"serviceArea":"Exchange","serviceAreaDisplayName":"Exchange Online","urls":["outlook.office365.com","smtp.office365.com"],"ips":["{range}"],"tcpPorts":"587,993,995,143","expressRoute":false,"category":"Allow","required":false,"notes":"POP3, IMAP4, SMTP Client traffic"}},{{"id":56,"serviceArea":"Common","urls":["login.microsoftonline.com"],"ips":["20.190.128.0/18"],"tcpPorts":"443","category":"Allow","required":true}}]"#
    )
}

/// What the server answers and what it was asked.
pub struct Service {
    pub version: String,
    pub list: (u16, Vec<u8>),
    /// Each request's line and headers, lower-cased header names.
    pub asked: Vec<(String, Vec<(String, String)>)>,
    /// Answer the list's head, then nothing more (the connection stays open).
    pub stall: bool,
}

/// A loopback HTTP/1.1 server answering `/version/Worldwide` and `/endpoints/Worldwide`
/// as the shared state says.
pub async fn serve(state: Arc<Mutex<Service>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let state = Arc::clone(&state);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16_384 {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head).to_string();
                let mut lines = text.split("\r\n");
                let line = lines.next().unwrap_or_default().to_owned();
                let headers = lines
                    .take_while(|l| !l.is_empty())
                    .filter_map(|l| l.split_once(':'))
                    .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
                    .collect();
                let (status, body) = {
                    let mut s = state.lock().unwrap();
                    s.asked.push((line.clone(), headers));
                    if line.starts_with("GET /version/Worldwide?") {
                        let v = format!(r#"{{"instance":"Worldwide","latest":"{}"}}"#, s.version);
                        (200, v.into_bytes())
                    } else if line.starts_with("GET /endpoints/Worldwide?") {
                        s.list.clone()
                    } else {
                        (404, b"not found".to_vec())
                    }
                };
                let stall = state.lock().unwrap().stall && line.starts_with("GET /endpoints/");
                if stall {
                    let head = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n[{\"id\":1,";
                    let _ = conn.write_all(head.as_bytes()).await;
                    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                    return;
                }
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes()).await;
                let _ = conn.write_all(&body).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    addr
}
