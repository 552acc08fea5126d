//! Five attendees of one room edit concurrently at random; everyone ends byte-equal with the
//! server. The seed is printed and can be fixed with PLENARY_TEST_SEED.

use plenary_protocol::fractional::between;
use plenary_protocol::{ClientMsg, OpKind, Value};
use plenary_tests::{create, set, text, Client, Replica, TeamClass, TestServer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ATTENDEES: usize = 5;
const OPS_PER_ATTENDEE: usize = 60;

/// A random op against what this replica currently knows.
fn random_op(rng: &mut StdRng, replica: &Replica, me: &str, n: usize) -> OpKind {
    let items: Vec<(&str, &plenary_protocol::Object)> = replica.doc.children("root");
    let choice = rng.random_range(0..10);
    if items.is_empty() || choice < 3 {
        let after = items.last().map(|(_, o)| o.pos.as_str());
        let pos = between(after, None).unwrap();
        return create(
            &format!("{me}-i{n}"),
            "backlog_item",
            "root",
            &pos,
            &[("title", text(&format!("story {n} by {me}")))],
        );
    }
    let (id, _) = items[rng.random_range(0..items.len())];
    match choice {
        3..=5 => set(
            id,
            &[
                ("title", text(&format!("edited {n} by {me}"))),
                ("value", Value::Int(rng.random_range(0..100))),
            ],
        ),
        6 => OpKind::Delete {
            object: id.to_owned(),
        },
        7 => create(
            &format!("{me}-c{n}"),
            "acceptance_criterion",
            id,
            "a0",
            &[("given", text("a user")), ("met", Value::Bool(false))],
        ),
        _ => {
            // Reorder: move between two random neighbours.
            let i = rng.random_range(0..=items.len());
            let lo = if i == 0 {
                None
            } else {
                Some(items[i - 1].1.pos.as_str())
            };
            let hi = items.get(i).map(|(_, o)| o.pos.as_str());
            match between(lo, hi) {
                Ok(pos) => OpKind::Move {
                    object: id.to_owned(),
                    parent: "root".into(),
                    pos,
                },
                Err(_) => set(id, &[("status", text("ready"))]),
            }
        }
    }
}

async fn edit(mut client: Client, seed: u64, room: String) -> anyhow::Result<(Client, Replica)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut replica = Replica::new(&room);
    client
        .send(&ClientMsg::Join {
            room: room.clone(),
            epoch: None,
            seq: None,
        })
        .await?;
    let snapshot = client
        .recv_until(|m| {
            matches!(m, plenary_protocol::ServerMsg::Snapshot { .. }).then(|| m.clone())
        })
        .await?;
    replica.on_message(&snapshot);
    for n in 0..OPS_PER_ATTENDEE {
        let kind = random_op(&mut rng, &replica, &client.participant.clone(), n);
        let op = client.op(kind);
        replica.sent(&op);
        client
            .send(&ClientMsg::Op {
                room: room.clone(),
                op: op.clone(),
            })
            .await?;
        // Read until this op is answered, applying everyone else's ops meanwhile.
        while replica.pending.contains_key(&op.id) {
            let msg = client.recv().await?;
            if let plenary_protocol::ServerMsg::Op { op, .. } = &msg {
                client.observe(op);
            }
            replica.on_message(&msg);
        }
        if rng.random_bool(0.3) {
            tokio::time::sleep(std::time::Duration::from_millis(rng.random_range(0..5))).await;
        }
    }
    Ok((client, replica))
}

#[tokio::test]
async fn five_attendees_converge_with_the_server() -> anyhow::Result<()> {
    let seed = plenary_tests::test_seed();
    let server = TestServer::start().await;
    let class = TeamClass::on(&server, "Co-editing", ATTENDEES).await?;
    let tokens = class.tokens();
    let (mut fac, room) = (class.fac, class.room);
    let mut tasks = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let client = server.connect(token).await?;
        tasks.push(tokio::spawn(edit(
            client,
            seed.wrapping_add(i as u64),
            room.clone(),
        )));
    }
    let mut finished = Vec::new();
    for t in tasks {
        finished.push(t.await??);
    }
    // The server's document, read by the facilitator.
    let (_, server_seq, server_doc) = fac.join(&room).await?;
    let expected = server_doc.canonical_json();
    let mut accepted = 0;
    for (mut client, mut replica) in finished {
        while replica.seq < server_seq {
            let msg = client.recv().await?;
            replica.on_message(&msg);
        }
        assert_eq!(replica.seq, server_seq);
        assert_eq!(
            replica.doc.canonical_json(),
            expected,
            "replica of {} diverged (seed {seed})",
            client.participant
        );
        accepted += OPS_PER_ATTENDEE - replica.rejected.len();
        for (_, code) in &replica.rejected {
            // Concurrent deletes make some ops target deleted objects; nothing else may fail.
            assert!(
                matches!(
                    code,
                    plenary_protocol::ErrorCode::Deleted
                        | plenary_protocol::ErrorCode::InvalidParent
                ),
                "unexpected reject {code} (seed {seed})"
            );
        }
    }
    assert_eq!(
        accepted as u64, server_seq,
        "every accepted op has exactly one seq"
    );
    assert!(server_doc.live_count() > 0);
    server.stop().await;
    Ok(())
}
