//! A real SMTP server on loopback for the e-mail tests: `scripts/smtp-receiver.py` (aiosmtpd)
//! run with the Python of the environment `scripts/setup-python.sh` makes, and a private CA
//! with a server certificate for 127.0.0.1 made with the `openssl` command line.
//!
//! Without that Python environment the tests fail, saying to run `scripts/setup.sh`: they never
//! pass by skipping.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::mime::Part;

/// The venv's interpreter: `$SECRETWATCH_PYENV/bin/python`, by default under
/// `~/.cache/secretwatch/pyenv`.
pub fn python() -> PathBuf {
    let venv = match std::env::var_os("SECRETWATCH_PYENV") {
        Some(v) => PathBuf::from(v),
        None => {
            let home = std::env::var_os("HOME").expect("HOME is set");
            Path::new(&home).join(".cache/secretwatch/pyenv")
        }
    };
    let py = venv.join("bin/python");
    assert!(
        py.exists(),
        "the SMTP receiver's Python environment is missing ({} not found): run scripts/setup.sh \
         (it installs aiosmtpd with scripts/setup-python.sh)",
        py.display()
    );
    py
}

/// The workspace root: this file is also included by the binary crate's tests.
fn repo_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    if here.join("scripts/smtp-receiver.py").exists() {
        return here.to_path_buf();
    }
    here.parent()
        .expect("the crate is in the workspace")
        .to_path_buf()
}

/// How the receiver behaves.
#[derive(Debug, Clone, Default)]
pub struct ReceiverOptions {
    /// 0: any free port.
    pub port: u16,
    /// Certificate and key: STARTTLS offered, or TLS from the first byte with `implicit_tls`.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub implicit_tls: bool,
    pub require_starttls: bool,
    /// The one accepted (user, password); AUTH then required.
    pub auth: Option<(String, String)>,
    /// Answer every RCPT TO with this line (e.g. `550 5.1.1 ...`).
    pub rcpt_reply: Option<String>,
}

/// What the receiver wrote for one accepted message.
#[derive(Debug, Clone)]
pub struct Received {
    pub raw: Vec<u8>,
    pub mail: Part,
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub auth_user: Option<String>,
    pub tls: bool,
}

pub struct SmtpReceiver {
    pub addr: SocketAddr,
    pub dir: PathBuf,
    child: Child,
    /// Held open: the receiver exits when it closes (this test process is gone).
    _stdin: ChildStdin,
    stderr: Arc<Mutex<String>>,
}

impl SmtpReceiver {
    /// Start the receiver writing into `dir`; returns once it accepts connections.
    pub fn start(dir: &Path, opts: &ReceiverOptions) -> SmtpReceiver {
        let mut cmd = Command::new(python());
        cmd.arg(repo_root().join("scripts/smtp-receiver.py"))
            .arg("--dir")
            .arg(dir)
            .arg("--port")
            .arg(opts.port.to_string())
            .arg("--watch-stdin");
        if let Some((cert, key)) = &opts.tls {
            cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
            if opts.implicit_tls {
                cmd.args(["--tls-mode", "implicit"]);
            }
        }
        if opts.require_starttls {
            cmd.arg("--require-starttls");
        }
        if let Some((user, password)) = &opts.auth {
            cmd.args(["--auth-user", user, "--auth-password", password]);
        }
        if let Some(reply) = &opts.rcpt_reply {
            cmd.args(["--rcpt-reply", reply]);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run scripts/smtp-receiver.py");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut err_pipe = child.stderr.take().unwrap();
        let stderr: Arc<Mutex<String>> = Arc::default();
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        let addr: Option<SocketAddr> = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|a| a.parse().ok());
        match addr {
            Some(addr) => SmtpReceiver {
                addr,
                dir: dir.to_path_buf(),
                child,
                _stdin: stdin,
                stderr,
            },
            None => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "scripts/smtp-receiver.py did not start (first line {line:?}); its stderr:\n{}\n\
                     If aiosmtpd is missing, run scripts/setup.sh.",
                    stderr.lock().unwrap()
                );
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every message received so far, in arrival order.
    pub fn messages(&self) -> Vec<Received> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|d| {
                d.map(|e| e.unwrap().path())
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .into_iter()
            .map(|eml| {
                let raw = std::fs::read(&eml).unwrap();
                let meta: Value =
                    serde_json::from_slice(&std::fs::read(eml.with_extension("json")).unwrap())
                        .unwrap();
                Received {
                    mail: Part::parse(&raw),
                    raw,
                    mail_from: meta["mail_from"].as_str().unwrap_or("").to_string(),
                    rcpt_tos: meta["rcpt_tos"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_str().unwrap().to_string())
                        .collect(),
                    auth_user: meta["auth_user"].as_str().map(str::to_string),
                    tls: meta["tls"].as_bool().unwrap(),
                }
            })
            .collect()
    }

    pub fn count(&self) -> usize {
        std::fs::read_dir(&self.dir)
            .map(|d| {
                d.filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "eml"))
                })
                .count()
            })
            .unwrap_or(0)
    }

    /// What the receiver printed on stderr so far (for failure messages).
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Stop the receiver (a relay going down); its port is free again afterwards.
    pub fn stop(self) {}
}

impl Drop for SmtpReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private CA and a server certificate for `127.0.0.1` (and `localhost`) it signed.
pub struct TestCa {
    pub ca_pem: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command line is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn test_ca(dir: &Path) -> TestCa {
    std::fs::create_dir_all(dir).unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=secretwatch test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &ca);
    let mut csr = vec!["req", "-new"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n\
         basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "0x5ec2e7",
            "-days",
            "2",
            "-out",
            "server.pem",
            "-extfile",
            "server.ext",
        ],
    );
    TestCa {
        ca_pem: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    }
}
