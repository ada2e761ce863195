//! `GET /metrics`: the store's figures in the Prometheus text format, no tenant
//! needed.
//!
//! Each scrape asks the store for a snapshot
//! ([`TenantConnections::record_metrics`], which sets the metrics listed in
//! [`sea_orm_tenant::metrics`]) and renders the Prometheus recorder. The
//! recorder is `metrics-exporter-prometheus`'s, without its own HTTP listener,
//! installed as the process's global `metrics` recorder on first use, so
//! anything else the process records with the `metrics` macros shows up too.
//! When another global recorder was installed first, the store's figures are
//! still recorded into this one (as a local recorder, during the scrape).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use poem::endpoint::make_sync;
use poem::{Endpoint, IntoResponse};
use sea_orm_tenant::TenantConnections;

/// The Prometheus text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The process's Prometheus recorder.
struct Exporter {
    handle: PrometheusHandle,
    /// Set when another global recorder was installed first.
    local: Option<PrometheusRecorder>,
}

impl Exporter {
    /// Built and installed once per process.
    fn get() -> &'static Self {
        static EXPORTER: OnceLock<Exporter> = OnceLock::new();
        EXPORTER.get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            match ::metrics::set_global_recorder(recorder) {
                Ok(()) => Self {
                    handle,
                    local: None,
                },
                Err(err) => {
                    tracing::warn!(
                        "a metrics recorder is already installed: /metrics shows only the tenant store's figures"
                    );
                    Self {
                        handle,
                        local: Some(err.into_inner()),
                    }
                }
            }
        })
    }

    /// Records `store`'s figures and renders everything.
    fn scrape(&self, store: &TenantConnections) -> String {
        match &self.local {
            None => store.record_metrics(),
            Some(recorder) => ::metrics::with_local_recorder(recorder, || store.record_metrics()),
        }
        // No histograms or idle timeouts are configured, but upkeep is cheap.
        self.handle.run_upkeep();
        self.handle.render()
    }
}

/// The `/metrics` endpoint for `store`.
pub fn metrics_endpoint(store: TenantConnections) -> impl Endpoint + 'static {
    let exporter = Exporter::get();
    make_sync(move |_| exporter.scrape(&store).with_content_type(CONTENT_TYPE))
}
