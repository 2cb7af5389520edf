//! A backend whose calls run on a thread of their own ("aws"), so that the
//! work of calling AWS never stands between an interaction and its first
//! answer.
//!
//! The bot answers on one thread (`main.rs`). Preparing an SDK call is
//! real work: serialising the request, resolving the endpoint, SigV4
//! signing, writing it. After a burst of declarations, every one of them
//! does that work right after its deferral; on one thread the interactions
//! that arrive next wait behind all of it (the load benchmark measured 45 ms
//! for the first interaction after 200 declarations, against a floor of
//! 0.5 ms). Here that work runs on a second thread with a runtime of its
//! own, which the bot's thread only hands calls to and awaits.
//!
//! Each call's arguments are cloned into the task, which carries the
//! caller's tracing span. A call whose caller stops waiting still runs to
//! its end (every write carries its client token, so finishing it is
//! always safe). The thread and its runtime stop when the backend is
//! dropped.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tracing::Instrument;

use super::{AwsError, ErrorKind, IncidentBackend, Operation};
use crate::domain::{
    ClientToken, Declaration, EventSummary, IncidentArn, IncidentRecord, IncidentSummary, ListedItem, PlanSummary,
    RecordChange, RelatedItem, TimelineEvent,
};

/// The thread's name, as `top -H` and a debugger show it.
pub const THREAD_NAME: &str = "aws";

/// `inner`, called on the "aws" thread.
#[derive(Debug)]
pub struct OwnThread<B> {
    inner: Arc<B>,
    region: Option<String>,
    runtime: Handle,
    /// Dropped with the backend: the thread's runtime then stops.
    _stop: oneshot::Sender<()>,
}

impl<B: IncidentBackend> OwnThread<B> {
    /// Starts the thread and its runtime.
    pub fn start(inner: B) -> std::io::Result<Self> {
        let (started, handle) = std::sync::mpsc::sync_channel(1);
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new().name(THREAD_NAME.to_owned()).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = started.send(Err(e));
                    return;
                }
            };
            let _ = started.send(Ok(runtime.handle().clone()));
            // Until the backend is dropped; then the calls still running
            // are dropped with the runtime.
            runtime.block_on(async {
                let _ = stopped.await;
            });
        })?;
        let runtime = handle.recv().map_err(|_| std::io::Error::other("the AWS thread ended as it started"))??;
        let region = inner.region().map(str::to_owned);
        Ok(Self { inner: Arc::new(inner), region, runtime, _stop: stop })
    }

    /// Runs `call` on the thread with `inner`, and waits for its result.
    ///
    /// Every call is spawned as the same type (a boxed future sending its
    /// result), so the runtime's task code exists once in the binary, not
    /// once per operation: code is resident memory (docs/performance.md).
    async fn on_thread<T, F>(&self, operation: Operation, call: impl FnOnce(Arc<B>) -> F) -> Result<T, AwsError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, AwsError>> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let call = call(Arc::clone(&self.inner));
        let task: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
            let _ = tx.send(call.await);
        });
        drop(self.runtime.spawn(task.instrument(tracing::Span::current())));
        rx.await.unwrap_or_else(|_| {
            // The task ended without sending: it panicked (tokio caught it),
            // or the thread's runtime stopped.
            tracing::error!(operation = operation.name(), "an AWS call ended without a result (a panic?)");
            Err(AwsError::new(operation, ErrorKind::Internal("the call ended without a result".to_owned())))
        })
    }
}

#[async_trait]
impl<B: IncidentBackend> IncidentBackend for OwnThread<B> {
    fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    async fn start_incident(&self, d: &Declaration) -> Result<IncidentArn, AwsError> {
        let d = d.clone();
        self.on_thread(Operation::StartIncident, |b| async move { b.start_incident(&d).await }).await
    }

    async fn list_response_plans(&self) -> Result<Vec<PlanSummary>, AwsError> {
        self.on_thread(Operation::ListResponsePlans, |b| async move { b.list_response_plans().await }).await
    }

    async fn list_open_incidents(&self, limit: usize) -> Result<Vec<IncidentSummary>, AwsError> {
        self.on_thread(Operation::ListIncidentRecords, |b| async move { b.list_open_incidents(limit).await }).await
    }

    async fn add_related_item(
        &self,
        incident: &IncidentArn,
        item: &RelatedItem,
        token: &ClientToken,
    ) -> Result<(), AwsError> {
        let (incident, item, token) = (incident.clone(), item.clone(), token.clone());
        self.on_thread(
            Operation::UpdateRelatedItems,
            |b| async move { b.add_related_item(&incident, &item, &token).await },
        )
        .await
    }

    async fn add_timeline_event(
        &self,
        incident: &IncidentArn,
        text: &str,
        at: SystemTime,
        token: &ClientToken,
    ) -> Result<String, AwsError> {
        let (incident, text, token) = (incident.clone(), text.to_owned(), token.clone());
        self.on_thread(Operation::CreateTimelineEvent, |b| async move {
            b.add_timeline_event(&incident, &text, at, &token).await
        })
        .await
    }

    async fn update_record(
        &self,
        incident: &IncidentArn,
        change: &RecordChange,
        token: &ClientToken,
    ) -> Result<(), AwsError> {
        let (incident, change, token) = (incident.clone(), change.clone(), token.clone());
        self.on_thread(
            Operation::UpdateIncidentRecord,
            |b| async move { b.update_record(&incident, &change, &token).await },
        )
        .await
    }

    async fn get_incident(&self, incident: &IncidentArn) -> Result<IncidentRecord, AwsError> {
        let incident = incident.clone();
        self.on_thread(Operation::GetIncidentRecord, |b| async move { b.get_incident(&incident).await }).await
    }

    async fn list_timeline_events(
        &self,
        incident: &IncidentArn,
        after: SystemTime,
    ) -> Result<Vec<EventSummary>, AwsError> {
        let incident = incident.clone();
        self.on_thread(Operation::ListTimelineEvents, |b| async move { b.list_timeline_events(&incident, after).await })
            .await
    }

    async fn get_timeline_event(&self, incident: &IncidentArn, id: &str) -> Result<TimelineEvent, AwsError> {
        let (incident, id) = (incident.clone(), id.to_owned());
        self.on_thread(Operation::GetTimelineEvent, |b| async move { b.get_timeline_event(&incident, &id).await }).await
    }

    async fn list_related_items(&self, incident: &IncidentArn) -> Result<Vec<ListedItem>, AwsError> {
        let incident = incident.clone();
        self.on_thread(Operation::ListRelatedItems, |b| async move { b.list_related_items(&incident).await }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::memory::InMemoryBackend;

    /// Which thread each call ran on.
    #[derive(Default)]
    struct Threads(std::sync::Mutex<Vec<Option<String>>>);

    impl Threads {
        fn here(&self) {
            self.0.lock().unwrap().push(std::thread::current().name().map(str::to_owned));
        }
    }

    /// The in-memory backend, noting the thread of each call.
    struct Noting {
        memory: InMemoryBackend,
        threads: Arc<Threads>,
        panic_on_list: bool,
    }

    #[async_trait]
    impl IncidentBackend for Noting {
        fn region(&self) -> Option<&str> {
            Some("eu-west-1")
        }
        async fn start_incident(&self, d: &Declaration) -> Result<IncidentArn, AwsError> {
            self.threads.here();
            self.memory.start_incident(d).await
        }
        async fn list_response_plans(&self) -> Result<Vec<PlanSummary>, AwsError> {
            self.threads.here();
            self.memory.list_response_plans().await
        }
        async fn list_open_incidents(&self, limit: usize) -> Result<Vec<IncidentSummary>, AwsError> {
            self.threads.here();
            assert!(!self.panic_on_list, "a bug in the backend");
            self.memory.list_open_incidents(limit).await
        }
        async fn add_related_item(&self, i: &IncidentArn, r: &RelatedItem, t: &ClientToken) -> Result<(), AwsError> {
            self.threads.here();
            self.memory.add_related_item(i, r, t).await
        }
        async fn add_timeline_event(
            &self,
            i: &IncidentArn,
            text: &str,
            at: SystemTime,
            t: &ClientToken,
        ) -> Result<String, AwsError> {
            self.threads.here();
            self.memory.add_timeline_event(i, text, at, t).await
        }
        async fn update_record(&self, i: &IncidentArn, c: &RecordChange, t: &ClientToken) -> Result<(), AwsError> {
            self.threads.here();
            self.memory.update_record(i, c, t).await
        }
        async fn get_incident(&self, i: &IncidentArn) -> Result<IncidentRecord, AwsError> {
            self.threads.here();
            self.memory.get_incident(i).await
        }
        async fn list_timeline_events(
            &self,
            i: &IncidentArn,
            after: SystemTime,
        ) -> Result<Vec<EventSummary>, AwsError> {
            self.threads.here();
            self.memory.list_timeline_events(i, after).await
        }
        async fn get_timeline_event(&self, i: &IncidentArn, id: &str) -> Result<TimelineEvent, AwsError> {
            self.threads.here();
            self.memory.get_timeline_event(i, id).await
        }
        async fn list_related_items(&self, i: &IncidentArn) -> Result<Vec<ListedItem>, AwsError> {
            self.threads.here();
            self.memory.list_related_items(i).await
        }
    }

    fn declaration(title: &str) -> Declaration {
        crate::testing::declaration(&crate::domain::DeclareInput {
            plan: Some("payments".into()),
            impact: Some(2),
            title: Some(title.into()),
            links: None,
        })
    }

    #[tokio::test]
    async fn calls_run_on_the_aws_thread_and_their_results_come_back() {
        let threads = Arc::new(Threads::default());
        let memory = InMemoryBackend::new();
        memory.add_plan("Payments", None);
        let backend = OwnThread::start(Noting { memory, threads: threads.clone(), panic_on_list: false }).unwrap();
        assert_eq!(backend.region(), Some("eu-west-1"));
        assert_eq!(backend.list_response_plans().await.unwrap().len(), 1);
        let d = declaration("Checkout down");
        let arn = backend.start_incident(&d).await.unwrap();
        assert_eq!(backend.start_incident(&d).await.unwrap(), arn, "the client token still makes it one incident");
        let record = backend.get_incident(&arn).await.unwrap();
        assert_eq!(record.title, "Checkout down");
        let open = backend.list_open_incidents(10).await.unwrap();
        assert_eq!(open.iter().map(|i| &i.arn).collect::<Vec<_>>(), [&arn]);
        let seen = threads.0.lock().unwrap().clone();
        assert_eq!(seen.len(), 5);
        assert!(seen.iter().all(|t| t.as_deref() == Some(THREAD_NAME)), "{seen:?}");
    }

    #[tokio::test]
    async fn a_panic_in_a_call_is_an_error_of_that_call_and_the_thread_goes_on() {
        let threads = Arc::new(Threads::default());
        let backend =
            OwnThread::start(Noting { memory: InMemoryBackend::new(), threads, panic_on_list: true }).unwrap();
        let e = backend.list_open_incidents(10).await.unwrap_err();
        assert_eq!(e.operation, Operation::ListIncidentRecords);
        assert_eq!(e.code(), "internal");
        assert!(backend.list_response_plans().await.is_ok());
    }
}
