//! A TCP proxy that injects faults between the app and a real service (PostgreSQL, Redis,
//! the embedding sidecar): it forwards bytes both ways until told to drop every connection,
//! to hang (hold the connections, forward nothing, answer nothing), to answer garbage, or to
//! pass again. Connections already
//! open see the change too, as pooled connections would in production.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward both ways.
    Pass,
    /// Close every open connection and each new one at once.
    Drop,
    /// Keep connections open but forward nothing: the service seems hung.
    Hang,
    /// Answer every new connection with bytes that are no protocol at all, then close it.
    Garbage,
}

impl Fault {
    fn code(self) -> u8 {
        match self {
            Fault::Pass => 0,
            Fault::Drop => 1,
            Fault::Hang => 2,
            Fault::Garbage => 3,
        }
    }

    fn from_code(code: u8) -> Fault {
        match code {
            1 => Fault::Drop,
            2 => Fault::Hang,
            3 => Fault::Garbage,
            _ => Fault::Pass,
        }
    }
}

struct Shared {
    fault: AtomicU8,
    stopped: AtomicBool,
    /// Every stream the proxy holds, to close them on `Drop` or at the end.
    streams: Mutex<Vec<TcpStream>>,
}

impl Shared {
    fn fault(&self) -> Fault {
        Fault::from_code(self.fault.load(Ordering::SeqCst))
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
            fault: AtomicU8::new(Fault::Pass.code()),
            stopped: AtomicBool::new(false),
            streams: Mutex::new(Vec::new()),
        });
        let target = target.to_string();
        let accepting = Arc::clone(&shared);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if accepting.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                accept(client, &target, &accepting);
            }
        });
        FaultProxy { port, shared }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// From now on, `fault`; `Drop` and `Garbage` also close what is open.
    pub fn set(&self, fault: Fault) {
        self.shared.fault.store(fault.code(), Ordering::SeqCst);
        if matches!(fault, Fault::Drop | Fault::Garbage) {
            self.shared.close_all();
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.shared.close_all();
        // Wake the accept loop so it sees `stopped`.
        let _ = TcpStream::connect(self.addr());
    }
}

fn accept(client: TcpStream, target: &str, shared: &Arc<Shared>) {
    shared.keep(&client);
    match shared.fault() {
        Fault::Drop => {
            let _ = client.shutdown(Shutdown::Both);
        }
        // Held open (in `streams`), never read from or answered.
        Fault::Hang => {}
        Fault::Garbage => {
            let mut client = client;
            let _ = client.write_all(b"\x00\xffnot a protocol\r\n\x1b[2J\x00\x00");
            let _ = client.shutdown(Shutdown::Both);
        }
        Fault::Pass => {
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

/// Copies `from` to `to` while the fault allows: holds the bytes while hung, stops on
/// `Drop` or when either side closes.
fn pump(mut from: TcpStream, mut to: TcpStream, shared: &Shared) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = [0u8; 16 * 1024];
    loop {
        match shared.fault() {
            Fault::Drop | Fault::Garbage => break,
            Fault::Hang => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            Fault::Pass => {}
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                // Read before a hang began: held back until it ends.
                while shared.fault() == Fault::Hang {
                    std::thread::sleep(Duration::from_millis(20));
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
