//! Each request runs in a `tenant_request` span whose `tenant` field is
//! recorded once the name is valid, and handler events are inside it.

mod common;

use std::sync::{Arc, Mutex};

use poem::test::TestClient;
use poem::{EndpointExt, Route, get, handler};
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant_poem::{CurrentTenant, Resolver, TenantMiddleware};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

use common::store_with;

#[derive(Default, Clone)]
struct Seen {
    /// Spans created: (name, tenant recorded so far).
    spans: Arc<Mutex<Vec<String>>>,
    /// For each handler event, the tenant of its enclosing `tenant_request` span.
    events: Arc<Mutex<Vec<String>>>,
}

struct TenantField(Option<String>);

impl Visit for TenantField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "tenant" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Seen {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() == "tenant_request" {
            self.spans.lock().unwrap().push("tenant_request".to_owned());
            ctx.span(id)
                .unwrap()
                .extensions_mut()
                .insert(TenantField(None));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let span = ctx.span(id).unwrap();
        if let Some(field) = span.extensions_mut().get_mut::<TenantField>() {
            values.record(field);
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().target() != "tracing_span" {
            return;
        }
        let tenant = ctx
            .event_scope(event)
            .into_iter()
            .flatten()
            .find_map(|span| {
                span.extensions()
                    .get::<TenantField>()
                    .and_then(|f| f.0.clone())
            })
            .unwrap_or_else(|| "none".to_owned());
        self.events.lock().unwrap().push(tenant);
    }
}

#[handler]
fn hello(tenant: CurrentTenant) -> String {
    tracing::info!("handling");
    tenant.to_string()
}

#[tokio::test(flavor = "current_thread")]
async fn each_request_gets_a_span_carrying_its_tenant() {
    let seen = Seen::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(seen.clone()));

    let mut dbs = TestDatabases::sqlite();
    let store = store_with(&mut dbs, &["acme", "globex"]).await;
    let cli = TestClient::new(
        Route::new()
            .at("/hello", get(hello))
            .with(TenantMiddleware::new(store, Resolver::default())),
    );
    cli.get("/hello?tenant=acme")
        .send()
        .await
        .assert_text("acme")
        .await;
    cli.get("/hello?tenant=globex")
        .send()
        .await
        .assert_text("globex")
        .await;
    cli.get("/hello?tenant=NOPE")
        .send()
        .await
        .assert_status(poem::http::StatusCode::BAD_REQUEST);

    assert_eq!(seen.spans.lock().unwrap().len(), 3);
    assert_eq!(*seen.events.lock().unwrap(), ["acme", "globex"]);
}
