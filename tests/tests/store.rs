//! The DynamoDB ticket store against the local AWS endpoint: every method, duplicates,
//! ordering, pagination past 1 MB, and a race of 16 writers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use loket_aws::DynamoTicketStore;
use loket_aws::dynamo::schema;
use loket_domain::ports::{Created, StoreError, TicketStore, create_once};
use loket_domain::ticket::{Actor, Channel, Requester, StaffRef};
use loket_domain::workflow::{Action, Applied, NewTicket};
use loket_domain::{Agency, Catalog, Role, Ticket, TicketNumber, Workflow};
use loket_tests::{sdk_config, unique_name};

struct Env {
    store: DynamoTicketStore,
    catalog: Catalog,
    agency: Agency,
}

async fn env() -> Env {
    let config = sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = unique_name("loket-store");
    schema::create_table(&client, &table).await.expect("create table");
    let catalog = Catalog::embedded().expect("catalog");
    let agency = Agency::embedded("pangkalpinang", &catalog).expect("agency");
    let store = DynamoTicketStore::new(client, table, catalog.clone()).in_zone(agency.calendar.time_zone().clone());
    Env { store, catalog, agency }
}

impl Env {
    fn wf(&self) -> Workflow<'_> {
        Workflow::new(&self.catalog, &self.agency)
    }

    fn new_ticket(
        &self,
        number: TicketNumber,
        procedure: &str,
        email: &str,
        at: Timestamp,
        description: String,
    ) -> NewTicket {
        let requester =
            Requester { email: Some(email.into()), name: "Sari".into(), unit: "Dinas Kesehatan".into(), phone: None };
        NewTicket {
            number,
            procedure: procedure.into(),
            actor: Actor::requester(&requester),
            requester,
            channel: Channel::Web,
            subject: "Internet mati".into(),
            description,
            fields: BTreeMap::new(),
            documents: Vec::new(),
            token_hash: "hash".into(),
            related: Vec::new(),
            mail_in: None,
            at,
        }
    }

    async fn create(&self, key: &str, procedure: &str, email: &str, at: Timestamp) -> Result<Created, StoreError> {
        self.create_with(key, procedure, email, at, "Mohon dibantu".into()).await
    }

    async fn create_with(
        &self,
        key: &str,
        procedure: &str,
        email: &str,
        at: Timestamp,
        description: String,
    ) -> Result<Created, StoreError> {
        let service = self.catalog.get(procedure).expect("procedure").service.clone();
        let wf = self.wf();
        create_once(&self.store, key, &service, 2026, move |number| {
            wf.open(self.new_ticket(number, procedure, email, at, description)).map(|a| (a, Vec::new()))
        })
        .await
    }

    async fn created(&self, key: &str, procedure: &str, email: &str, at: Timestamp) -> Ticket {
        match self.create(key, procedure, email, at).await.expect("create") {
            Created::New(applied, _) => applied.ticket,
            Created::Duplicate(n) => panic!("unexpected duplicate {n}"),
        }
    }
}

fn now() -> Timestamp {
    Timestamp::now()
}

fn staff(role: Role) -> Actor {
    Actor::staff(
        &StaffRef { id: format!("{role}-1"), name: format!("{role} satu"), email: format!("{role}@x.go.id") },
        vec![role],
    )
}

#[tokio::test]
async fn create_get_and_duplicate() {
    let env = env().await;
    let ticket = env.created("msg-1", "gangguan-internet-disposisi", "Sari@Dinkes.go.id", now()).await;
    assert_eq!(ticket.number.as_str(), "GJI-2026-000001");
    let read = env.store.get(&ticket.number).await.expect("get");
    assert_eq!(read, ticket, "the ticket reads back as written");
    let again =
        env.create("msg-1", "gangguan-internet-disposisi", "sari@dinkes.go.id", now()).await.expect("duplicate");
    assert_eq!(again, Created::Duplicate(ticket.number.clone()));
    // The duplicate took no number: the next ticket is 2.
    let second = env.created("msg-2", "gangguan-internet-disposisi", "sari@dinkes.go.id", now()).await;
    assert_eq!(second.number.as_str(), "GJI-2026-000002");
    let missing: TicketNumber = "GJI-2026-999999".parse().expect("number");
    assert_eq!(env.store.get(&missing).await, Err(StoreError::NotFound));
}

#[tokio::test]
async fn numbers_are_per_service_and_have_no_gaps_under_concurrency() {
    let env = Arc::new(env().await);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let env = env.clone();
        tasks.push(tokio::spawn(async move {
            env.create(&format!("form-{i}"), "jaringan-intra-kota", "a@b.go.id", now()).await
        }));
    }
    let mut numbers = BTreeSet::new();
    for task in tasks {
        match task.await.expect("task").expect("create") {
            Created::New(applied, _) => assert!(numbers.insert(applied.ticket.number.to_string())),
            Created::Duplicate(n) => panic!("duplicate {n}"),
        }
    }
    let expected: BTreeSet<String> = (1..=20).map(|i| format!("JIP-2026-{i:06}")).collect();
    assert_eq!(numbers, expected);
    let other = env.created("x", "pemeliharaan-infrastruktur", "a@b.go.id", now()).await;
    assert_eq!(other.number.as_str(), "PIJ-2026-000001");
}

#[tokio::test]
async fn the_same_request_delivered_concurrently_makes_one_ticket() {
    let env = Arc::new(env().await);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let env = env.clone();
        tasks.push(tokio::spawn(async move { env.create("same-message-id", "triase", "a@b.go.id", now()).await }));
    }
    let mut new = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(Created::New(..)) => new += 1,
            Ok(Created::Duplicate(n)) => assert_eq!(n.as_str(), "UMM-2026-000001"),
            Err(StoreError::InProgress) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(new, 1);
    // After the dust settles every redelivery is a plain duplicate.
    let later = env.create("same-message-id", "triase", "a@b.go.id", now()).await.expect("duplicate");
    assert_eq!(later, Created::Duplicate("UMM-2026-000001".parse().expect("number")));
}

async fn act(env: &Env, ticket: &Ticket, actor: &Actor, action: Action) -> Applied {
    let applied = env.wf().apply(ticket, actor, action, ticket.version, now()).expect("allowed");
    env.store.apply(&applied, ticket.version, &[], None).await.expect("stored");
    applied
}

fn complete(step: &str) -> Action {
    Action::Complete {
        step: step.into(),
        note: Some(format!("selesai {step}")),
        fields: BTreeMap::new(),
        documents: Vec::new(),
    }
}

#[tokio::test]
async fn timeline_is_in_order_and_queues_follow_the_step() {
    let env = env().await;
    let ticket = env.created("t-1", "gangguan-internet-disposisi", "a@b.go.id", now()).await;
    // Step 'disposisi' is performed by the Kadis or the Kabid: both queues hold it.
    for role in [Role::Kadis, Role::Kabid] {
        let queue = env.store.queue(role, 10, None).await.expect("queue");
        assert_eq!(queue.items.len(), 1, "{role}");
        assert_eq!(queue.items[0].step, "disposisi");
    }
    let t = act(&env, &ticket, &staff(Role::Kabid), complete("disposisi")).await.ticket;
    let t = act(&env, &t, &staff(Role::Kasi), Action::Note { text: "cek ONT dulu".into() }).await.ticket;
    let t = act(&env, &t, &staff(Role::Kasi), complete("perintah-kasi")).await.ticket;
    assert!(env.store.queue(Role::Kadis, 10, None).await.expect("queue").items.is_empty(), "left the Kadis's queue");
    assert!(env.store.queue(Role::Kasi, 10, None).await.expect("queue").items.is_empty());
    let teknisi = env.store.queue(Role::Teknisi, 10, None).await.expect("queue");
    assert_eq!(teknisi.items[0].version, t.version);

    let timeline = env.store.timeline(&t.number).await.expect("timeline");
    let seqs: Vec<u64> = timeline.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4]);
    assert_eq!(timeline[2].note.as_deref(), Some("cek ONT dulu"));
    assert!(timeline[2].internal);
    assert_eq!(timeline[3].to_step.as_deref(), Some("penanganan"));
}

#[tokio::test]
async fn a_queue_is_ordered_by_due_with_pages() {
    let env = env().await;
    let base = now();
    // Opened at different times: the earlier the start, the earlier the due instant.
    let mut expected = Vec::new();
    for (i, hours_ago) in [3, 30, 1, 50, 12].iter().enumerate() {
        let t = env
            .created(
                &format!("q-{i}"),
                "pemeliharaan-infrastruktur",
                "a@b.go.id",
                base - SignedDuration::from_hours(*hours_ago),
            )
            .await;
        expected.push((t.due_at().expect("due"), t.number.to_string()));
    }
    expected.sort();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = env.store.queue(Role::Kadis, 2, cursor.as_deref()).await.expect("page");
        seen.extend(page.items.iter().map(|e| e.number.to_string()));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let order: Vec<String> = expected.into_iter().map(|(_, n)| n).collect();
    assert_eq!(seen, order);
}

#[tokio::test]
async fn a_requesters_tickets_newest_first() {
    let env = env().await;
    let base = now();
    let first = env.created("r-1", "triase", "Pic@Opd.go.id", base - SignedDuration::from_hours(5)).await;
    let second = env.created("r-2", "triase", "pic@opd.go.id", base).await;
    env.created("r-3", "triase", "other@opd.go.id", base).await;
    let mine = env.store.by_requester("PIC@opd.go.id", 10).await.expect("lookup");
    let numbers: Vec<&TicketNumber> = mine.iter().map(|t| &t.number).collect();
    assert_eq!(numbers, vec![&second.number, &first.number]);
}

#[tokio::test]
async fn a_ticket_counts_in_its_local_month() {
    let env = env().await;
    // 1 February 2026, 03:00 WIB is still 31 January in UTC.
    let at: Timestamp = "2026-01-31T20:00:00Z".parse().expect("time");
    let number = env.created("month-1", "gangguan-internet-disposisi", "sari@dinkes.example.go.id", at).await.number;
    let numbers = |tickets: Vec<Ticket>| tickets.into_iter().map(|t| t.number).collect::<Vec<_>>();
    assert_eq!(numbers(env.store.opened_in_month(2026, 2).await.expect("february")), vec![number]);
    assert!(env.store.opened_in_month(2026, 1).await.expect("january").is_empty());
}

#[tokio::test]
async fn sixteen_concurrent_transitions_one_winner() {
    let env = Arc::new(env().await);
    let ticket = env.created("race", "gangguan-internet-disposisi", "a@b.go.id", now()).await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let env = env.clone();
        let ticket = ticket.clone();
        tasks.push(tokio::spawn(async move {
            let action = Action::Note { text: format!("catatan {i}") };
            let applied = env.wf().apply(&ticket, &staff(Role::Kasi), action, ticket.version, now()).expect("allowed");
            env.store.apply(&applied, ticket.version, &[], None).await
        }));
    }
    let mut wins = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(()) => wins += 1,
            Err(StoreError::Conflict(current)) => assert_eq!(current.version, ticket.version + 1),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(env.store.timeline(&ticket.number).await.expect("timeline").len(), 2);
}

#[tokio::test]
async fn a_stale_write_gets_the_current_state() {
    let env = env().await;
    let ticket = env.created("stale", "gangguan-internet-disposisi", "a@b.go.id", now()).await;
    let moved = act(&env, &ticket, &staff(Role::Kadis), complete("disposisi")).await.ticket;
    let late = env
        .wf()
        .apply(&ticket, &staff(Role::Kasi), Action::Note { text: "telat".into() }, ticket.version, now())
        .expect("allowed");
    match env.store.apply(&late, ticket.version, &[], None).await {
        Err(StoreError::Conflict(current)) => assert_eq!(*current, moved),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[tokio::test]
async fn the_due_sweep_reads_only_what_is_due_and_pages_past_one_megabyte() {
    let env = Arc::new(env().await);
    let long_ago = now() - SignedDuration::from_hours(24 * 10);
    // 300 overdue tickets of about 4 KB each: more than one 1 MB page of the index.
    let description = "Gangguan jaringan di ruang server lantai dua. ".repeat(90);
    let mut tasks = Vec::new();
    for i in 0..300 {
        let env = env.clone();
        let description = description.clone();
        tasks.push(tokio::spawn(async move {
            env.create_with(&format!("due-{i}"), "gangguan-internet-disposisi", "a@b.go.id", long_ago, description)
                .await
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("create");
    }
    // Five fresh tickets are not due yet.
    for i in 0..5 {
        env.created(&format!("fresh-{i}"), "triase", "a@b.go.id", now() + SignedDuration::from_hours(24 * 30)).await;
    }
    let mut pages = 0;
    let mut read = 0;
    let mut numbers = BTreeSet::new();
    let mut cursor = None;
    loop {
        let page = env.store.due(now(), 1000, cursor.as_deref()).await.expect("sweep");
        pages += 1;
        read += page.items_read;
        for t in &page.tickets {
            assert!(t.next_check().is_some_and(|at| at <= now()));
            numbers.insert(t.number.to_string());
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(numbers.len(), 300);
    assert_eq!(read, 300, "the sweep reads what is due and nothing else");
    assert!(pages >= 2, "300 x 4 KB must take more than one 1 MB page, took {pages}");
}

#[tokio::test]
async fn queues_follow_a_triage_route_into_another_procedure() {
    let env = env().await;
    let ticket = env.created("route-1", "triase", "a@b.go.id", now()).await;
    assert_eq!(env.store.queue(Role::Helpdesk, 10, None).await.expect("queue").items.len(), 1);
    let route = Action::Route { step: "triase".into(), procedure: "gangguan-internet-disposisi".into(), note: None };
    let routed = act(&env, &ticket, &staff(Role::Helpdesk), route).await.ticket;
    assert_eq!(routed.current_step(), Some("disposisi"));
    for role in [Role::Helpdesk, Role::Koordinator] {
        assert!(env.store.queue(role, 10, None).await.expect("queue").items.is_empty(), "{role} queue emptied");
    }
    assert_eq!(env.store.queue(Role::Kabid, 10, None).await.expect("queue").items.len(), 1);
}
