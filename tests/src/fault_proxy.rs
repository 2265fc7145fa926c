//! A TCP proxy that injects faults between the app and a real service (PostgreSQL, Redis,
//! the embedding sidecar, Chroma, an LLM server, a webhook receiver): it forwards bytes both
//! ways until told to refuse connections (its port closed), to drop every connection, to
//! hang (hold the connections, forward nothing, answer nothing), to slow down (forward, each
//! chunk late), to answer garbage (bytes that are no protocol, or an HTTP answer the service
//! would never give), or to pass again. Connections already open see the change too, as
//! pooled connections would in production.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::llm_server::{read_request, respond};

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward both ways.
    Pass,
    /// Close the listening port: connecting is refused (`ECONNREFUSED`), as with the service
    /// down; open connections are closed. The port opens again on any other fault.
    Refuse,
    /// Close every open connection and each new one at once.
    Drop,
    /// Keep connections open but forward nothing: the service seems hung.
    Hang,
    /// Forward both ways, each chunk read held back this long first (a slow network or an
    /// overloaded service); a chunk waiting when the fault changes goes on at once.
    Slow(Duration),
    /// Answer every new connection with bytes that are no protocol at all, then close it.
    Garbage,
    /// Read each new connection's HTTP request and answer it with this status and body
    /// (`content-type: application/json`, whatever the body is), then close: an HTTP server
    /// in the way (a misrouted proxy, a captive portal, the wrong service) answering what the
    /// service never would.
    Http(u16, &'static str),
}

struct Shared {
    fault: Mutex<Fault>,
    stopped: AtomicBool,
    /// Whether the port is open (it is not while refusing).
    listening: AtomicBool,
    /// Every stream the proxy holds, to close them on `Drop` or at the end.
    streams: Mutex<Vec<TcpStream>>,
}

impl Shared {
    fn fault(&self) -> Fault {
        *self.fault.lock().unwrap()
    }

    fn keep(&self, stream: &TcpStream) {
        if let Ok(clone) = stream.try_clone() {
            self.streams.lock().unwrap().push(clone);
        }
    }

    fn close_all(&self) {
        for stream in self.streams.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// The proxy, listening on `127.0.0.1:port` until dropped.
pub struct FaultProxy {
    pub port: u16,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Forwards a free loopback port to `target` (`host:port`).
    pub fn start(target: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            fault: Mutex::new(Fault::Pass),
            stopped: AtomicBool::new(false),
            listening: AtomicBool::new(true),
            streams: Mutex::new(Vec::new()),
        });
        let target = target.to_string();
        let accepting = Arc::clone(&shared);
        // Polled, so that `Refuse` can close the port and any other fault open it again.
        std::thread::spawn(move || {
            let mut listener = Some(listener);
            while !accepting.stopped.load(Ordering::SeqCst) {
                if accepting.fault() == Fault::Refuse {
                    listener = None;
                    accepting.listening.store(false, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
                let open = match &listener {
                    Some(open) => open,
                    None => match TcpListener::bind(("127.0.0.1", port)) {
                        Ok(open) => {
                            accepting.listening.store(true, Ordering::SeqCst);
                            listener.insert(open)
                        }
                        Err(_) => {
                            std::thread::sleep(Duration::from_millis(10));
                            continue;
                        }
                    },
                };
                let _ = open.set_nonblocking(true);
                match open.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        accept(client, &target, &accepting);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FaultProxy { port, shared }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// From now on, `fault`; `Refuse`, `Drop`, `Garbage` and `Http` also close what is open.
    pub fn set(&self, fault: Fault) {
        *self.shared.fault.lock().unwrap() = fault;
        if matches!(
            fault,
            Fault::Refuse | Fault::Drop | Fault::Garbage | Fault::Http(..)
        ) {
            self.shared.close_all();
        }
        // The accept loop closes or reopens the port within a few milliseconds.
        let listening = fault != Fault::Refuse;
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.shared.listening.load(Ordering::SeqCst) != listening {
            assert!(
                Instant::now() < deadline,
                "the proxy's port did not follow {fault:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.shared.close_all();
    }
}

fn accept(client: TcpStream, target: &str, shared: &Arc<Shared>) {
    shared.keep(&client);
    match shared.fault() {
        Fault::Drop | Fault::Refuse => {
            let _ = client.shutdown(Shutdown::Both);
        }
        // Held open (in `streams`), never read from or answered.
        Fault::Hang => {}
        Fault::Garbage => {
            let mut client = client;
            let _ = client.write_all(b"\x00\xffnot a protocol\r\n\x1b[2J\x00\x00");
            let _ = client.shutdown(Shutdown::Both);
        }
        Fault::Http(status, body) => {
            std::thread::spawn(move || {
                if read_request(&client).is_some() {
                    let mut out = client;
                    let _ = respond(&mut out, status, "application/json", body.as_bytes());
                    let _ = out.shutdown(Shutdown::Both);
                }
            });
        }
        Fault::Pass | Fault::Slow(_) => {
            let Ok(upstream) = TcpStream::connect(target) else {
                let _ = client.shutdown(Shutdown::Both);
                return;
            };
            shared.keep(&upstream);
            for (from, to) in [
                (client.try_clone(), upstream.try_clone()),
                (upstream.try_clone(), client.try_clone()),
            ] {
                if let (Ok(from), Ok(to)) = (from, to) {
                    let shared = Arc::clone(shared);
                    std::thread::spawn(move || pump(from, to, &shared));
                }
            }
        }
    }
}

/// Copies `from` to `to` while the fault allows: holds the bytes while hung, delays each
/// chunk while slow, stops on `Drop` (and the faults that close connections) or when either
/// side closes.
fn pump(mut from: TcpStream, mut to: TcpStream, shared: &Shared) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = [0u8; 16 * 1024];
    loop {
        match shared.fault() {
            Fault::Refuse | Fault::Drop | Fault::Garbage | Fault::Http(..) => break,
            Fault::Hang => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            Fault::Pass | Fault::Slow(_) => {}
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                // Read before a hang began: held back until it ends.
                while shared.fault() == Fault::Hang {
                    std::thread::sleep(Duration::from_millis(20));
                }
                if let Fault::Slow(delay) = shared.fault() {
                    let until = Instant::now() + delay;
                    while Instant::now() < until && matches!(shared.fault(), Fault::Slow(_)) {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                if shared.fault() == Fault::Drop || to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
