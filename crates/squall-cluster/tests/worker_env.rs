//! A supervisor hands its TLS sections to the workers it starts through
//! `SQUALL__…` variables (`protocol::config::worker_env`): a worker that
//! loads its configuration from them alone must get the same sections.

use squall_cluster::protocol::api_tls::ApiTlsConfig;
use squall_cluster::protocol::config::worker_env;
use squall_cluster::protocol::etcd_tls::EtcdTlsConfig;
use squall_cluster::protocol::tls::DataTlsConfig;
use squall_cluster::ClusterConfig;

#[test]
#[allow(clippy::result_large_err)] // figment::Jail's closure returns figment::Error
fn a_worker_loads_the_sections_its_supervisor_handed_it() {
    let etcd = EtcdTlsConfig { ca: "/c/ca.pem".into(), cert: None, key: None, domain: "e".into() };
    let api = ApiTlsConfig { ca: Some("/c/api ca.pem".into()), reload_ms: 7, ..Default::default() };
    let data = DataTlsConfig {
        cert: "/c/d.pem".into(),
        key: "/c/d.key".into(),
        ca: "/c/ca.pem".into(),
        server_name: String::new(),
    };
    let mut env = worker_env("SQUALL__ETCD_TLS", Some(&etcd));
    env.extend(worker_env("SQUALL__API_TLS", Some(&api)));
    env.extend(worker_env("SQUALL__SUPERVISOR__DATA_TLS", Some(&data)));
    assert!(!env.iter().any(|(k, _)| k == "SQUALL__API_TLS__CERT"), "an unset field: no variable");
    assert!(worker_env::<EtcdTlsConfig>("SQUALL__ETCD_TLS", None).is_empty());
    figment::Jail::expect_with(|jail| {
        for (k, v) in &env {
            jail.set_env(k, v);
        }
        let c = ClusterConfig::load(None).unwrap();
        assert_eq!(c.etcd_tls, Some(etcd.clone()));
        assert_eq!(c.api_tls, api);
        assert_eq!(c.supervisor.data_tls, Some(data.clone()));
        Ok(())
    });
}
