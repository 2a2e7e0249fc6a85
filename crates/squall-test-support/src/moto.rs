//! [`Moto`]: a real S3 API on 127.0.0.1 for tests (PyPI `moto[server]`,
//! installed by `scripts/setup.sh`), with one bucket, `squall`.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A moto server on a free loopback port, killed when dropped.
pub struct Moto {
    child: Child,
    /// Its URL, `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

/// The bucket every test writes into.
pub const BUCKET: &str = "squall";

impl Moto {
    /// Starts moto and makes bucket [`BUCKET`]; waits until it answers
    /// (60 s at most: a loaded machine).
    ///
    /// # Panics
    /// If `python3 -m moto.server` is missing or does not start, or the
    /// bucket cannot be made.
    pub fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        // `python3 -m moto.server` is `moto_server` without relying on PATH.
        let child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with moto[server] (pip install 'moto[server]')");
        let moto = Moto { child, endpoint: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start in 60 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        // The bucket, made with boto3 (which moto brings).
        let script = format!(
            "import boto3; boto3.client('s3', endpoint_url='{}', region_name='us-east-1', \
             aws_access_key_id='test', aws_secret_access_key='test').create_bucket(Bucket='{BUCKET}')",
            moto.endpoint
        );
        let made = Command::new("python3").args(["-c", &script]).status().unwrap();
        assert!(made.success(), "cannot create bucket '{BUCKET}' in moto");
        moto
    }

    /// The environment object_store's `AmazonS3Builder::from_env` reads to
    /// reach this server: set it on a child process, or in this one with
    /// [`Moto::set_env`].
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    /// Sets [`Moto::env`] in this process (call it before any thread that
    /// reads the environment starts).
    pub fn set_env(&self) {
        for (k, v) in self.env() {
            std::env::set_var(k, v);
        }
    }

    /// Freezes the server (SIGSTOP): it still accepts connections (the
    /// kernel's backlog) but answers nothing, as an S3 endpoint that hangs
    /// mid-upload. [`Moto::resume`] thaws it, its objects intact.
    ///
    /// # Panics
    /// If `kill` cannot be run.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a server frozen by [`Moto::pause`] (SIGCONT).
    ///
    /// # Panics
    /// If `kill` cannot be run.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(sent.success(), "kill {signal} {pid}");
    }

    /// The keys under `prefix` in [`BUCKET`], listed with boto3.
    ///
    /// # Panics
    /// If the listing fails.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let script = format!(
            "import boto3\n\
             c = boto3.client('s3', endpoint_url='{}', region_name='us-east-1', \
             aws_access_key_id='test', aws_secret_access_key='test')\n\
             for page in c.get_paginator('list_objects_v2').paginate(Bucket='{BUCKET}', Prefix='{prefix}'):\n\
             \x20   for o in page.get('Contents', []): print(o['Key'])\n",
            self.endpoint
        );
        let out = Command::new("python3").args(["-c", &script]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-CONT", &self.child.id().to_string()]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
