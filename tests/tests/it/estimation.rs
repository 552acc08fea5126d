//! Estimation exercises through the real server: a planning-poker round revealed by the server
//! once every present member voted (someone who left does not hold it up), a re-vote kept as
//! history, an accepted estimate written as a normal op; votes by the facilitator, an observer or
//! another team, cards off the scale and overspent value budgets refused with nothing changed;
//! value-scoring allocations that never overwrite one another; and, with two nodes, an
//! auto-reveal that happens once when the voters sit on different nodes.

use std::collections::BTreeMap;

use plenary_protocol::estimate::{allocation_totals, stats};
use plenary_protocol::workshop::{Command, RoomKind};
use plenary_protocol::{ErrorCode, Op, OpKind, ServerMsg, Value};
use plenary_tests::{
    create, current_view, one_team, set, text, two_node_class, Client, RedisServer, TestServer,
};

fn seal(object: &str, field: &str, value: &str) -> OpKind {
    OpKind::Seal {
        object: object.into(),
        field: field.into(),
        value: Some(Value::Text(value.into())),
        withdraw: false,
    }
}

fn reveal(object: &str) -> OpKind {
    OpKind::Reveal {
        object: object.into(),
        values: BTreeMap::new(),
    }
}

/// Adds the story `id` to the backlog through `by`.
async fn add_story(by: &mut Client, room: &str, id: &str) -> anyhow::Result<()> {
    let story = create(id, "backlog_item", "root", "a0", &[("title", text(id))]);
    anyhow::ensure!(by.apply(room, story).await?.is_ok(), "story {id}");
    Ok(())
}

/// Starts the round `id` on `scale` under `story` through `by`, at `pos` among its rounds.
async fn add_round(
    by: &mut Client,
    room: &str,
    (story, id, pos): (&str, &str, &str),
    scale: &str,
    auto: bool,
) -> anyhow::Result<()> {
    let mut fields = vec![("scale", text(scale))];
    if auto {
        fields.push(("auto_reveal", Value::Bool(true)));
    }
    let round = create(id, "estimation_round", story, pos, &fields);
    let answer = by.apply(room, round).await?;
    anyhow::ensure!(answer.is_ok(), "round {id}: {answer:?}");
    Ok(())
}

/// Waits for the reveal of `object` and returns it (sender, values).
async fn revealed(client: &mut Client, object: &str) -> anyhow::Result<Op> {
    client
        .recv_until(|msg| match msg {
            ServerMsg::Op { op, .. } => match &op.kind {
                OpKind::Reveal { object: o, .. } if o == object => Some(op.clone()),
                _ => None,
            },
            _ => None,
        })
        .await
}

/// Reads what arrives for `ms` milliseconds, as JSON text.
async fn frames_for(client: &mut Client, ms: u64) -> Vec<String> {
    let mut out = Vec::new();
    let until = tokio::time::Instant::now() + std::time::Duration::from_millis(ms);
    while let Ok(Ok(msg)) = tokio::time::timeout_at(until, client.recv()).await {
        out.push(serde_json::to_string(&msg).unwrap());
    }
    out
}

fn votes_of(op: &Op) -> BTreeMap<String, Value> {
    match &op.kind {
        OpKind::Reveal { values, .. } => values.get("votes").cloned().unwrap_or_default(),
        _ => BTreeMap::new(),
    }
}

#[tokio::test]
async fn poker_rounds_reveal_themselves_keep_history_and_accept_an_estimate() -> anyhow::Result<()>
{
    let server = TestServer::start().await;
    let (mut fac, mut members, room, _) = one_team(&server, 3).await?;
    fac.join(&room).await?;
    for m in &mut members {
        m.join(&room).await?;
    }
    add_story(&mut members[0], &room, "story").await?;
    // The facilitator starts the round; it reveals itself when everyone present has voted.
    add_round(
        &mut fac,
        &room,
        ("story", "round-1", "a0"),
        "fibonacci",
        true,
    )
    .await?;

    // The facilitator runs the round but does not vote; a card off the scale is refused.
    assert_eq!(
        fac.apply(&room, seal("round-1", "votes", "5")).await?,
        Err(ErrorCode::Forbidden)
    );
    assert_eq!(
        members[0]
            .apply(&room, seal("round-1", "votes", "XL"))
            .await?,
        Err(ErrorCode::InvalidValue)
    );
    assert_eq!(
        members[0]
            .apply(&room, seal("round-1", "votes", "4"))
            .await?,
        Err(ErrorCode::InvalidValue)
    );
    assert!(members[0]
        .apply(&room, seal("round-1", "votes", "13"))
        .await?
        .is_ok());
    assert!(members[1]
        .apply(&room, seal("round-1", "votes", "21"))
        .await?
        .is_ok());
    // Two of three have voted: nothing is revealed, and nobody else learnt a card.
    let seen = frames_for(&mut fac, 400).await;
    assert!(
        !seen.iter().any(|f| f.contains("\"reveal\"")),
        "no reveal while a member present has not voted: {seen:?}"
    );
    for f in &seen {
        assert!(
            !f.contains("\"13\"") && !f.contains("\"21\""),
            "the facilitator saw a card: {f}"
        );
    }
    let (_, _, doc) = fac.join(&room).await?;
    assert!(doc.objects["round-1"].revealed.is_none());
    // The third member leaves mid-round: the round no longer waits for them.
    let third = members.pop().unwrap();
    let third_token = third.token.clone();
    drop(third);
    let op = revealed(&mut fac, "round-1").await?;
    assert_eq!(op.stamp.client, "server", "the server revealed it");
    let votes = votes_of(&op);
    assert_eq!(votes.len(), 2, "{votes:?}");
    assert_eq!(votes[&members[0].participant], Value::Text("13".into()));
    assert_eq!(votes[&members[1].participant], Value::Text("21".into()));
    let cards: Vec<&str> = votes.values().filter_map(Value::as_text).collect();
    let st = stats(Some("fibonacci"), cards);
    assert_eq!(
        (st.min.as_deref(), st.max.as_deref(), st.consensus),
        (Some("13"), Some("21"), false)
    );
    // Everyone got the same reveal, once.
    for m in &mut members {
        let again = revealed(m, "round-1").await?;
        assert_eq!(votes_of(&again), votes);
    }

    // Re-vote: a new round on the same story, the first one kept as history.
    let mut third = server.connect(&third_token).await?;
    third.join(&room).await?;
    members.push(third);
    add_round(
        &mut members[2],
        &room,
        ("story", "round-2", "a1"),
        "fibonacci",
        true,
    )
    .await?;
    for (i, m) in members.iter_mut().enumerate() {
        assert!(
            m.apply(&room, seal("round-2", "votes", "13"))
                .await?
                .is_ok(),
            "member {i}"
        );
    }
    let op = revealed(&mut fac, "round-2").await?;
    let votes = votes_of(&op);
    assert_eq!(votes.len(), 3);
    let st = stats(Some("fibonacci"), votes.values().filter_map(Value::as_text));
    assert!(st.consensus);
    assert_eq!(st.suggestion.as_deref(), Some("13"));
    // After the reveal nobody can vote or reveal again.
    assert_eq!(
        members[0]
            .apply(&room, seal("round-2", "votes", "1"))
            .await?,
        Err(ErrorCode::Conflict)
    );
    assert_eq!(
        members[0].apply(&room, reveal("round-2")).await?,
        Err(ErrorCode::Conflict)
    );
    // Accept: the estimate goes into the story as an ordinary op; the round records it.
    assert!(members[1]
        .apply(&room, set("story", &[("estimate", text("13"))]))
        .await?
        .is_ok());
    assert!(members[1]
        .apply(&room, set("round-2", &[("accepted", text("13"))]))
        .await?
        .is_ok());
    let (_, _, doc) = fac.join(&room).await?;
    assert_eq!(doc.objects["story"].fields["estimate"].value, text("13"));
    for round in ["round-1", "round-2"] {
        let obj = &doc.objects[round];
        assert!(obj.revealed.is_some(), "{round} kept, revealed");
        assert_eq!(obj.parent, "story");
    }
    assert_eq!(doc.objects["round-1"].sealed["votes"].len(), 2);
    assert_eq!(doc.objects["round-2"].sealed["votes"].len(), 3);

    // A round by hand (no auto-reveal) waits for a reveal even when everyone voted; the
    // facilitator may reveal it.
    add_round(
        &mut members[0],
        &room,
        ("story", "round-3", "a2"),
        "tshirt",
        false,
    )
    .await?;
    for m in members.iter_mut() {
        assert!(m.apply(&room, seal("round-3", "votes", "M")).await?.is_ok());
    }
    let seen = frames_for(&mut fac, 400).await;
    assert!(!seen.iter().any(|f| f.contains("\"reveal\"")), "{seen:?}");
    assert!(fac.apply(&room, reveal("round-3")).await?.is_ok());
    Ok(())
}

/// A second team and an observer look at room 1 while it is on stage: they see who voted,
/// never a card, and may neither vote nor reveal.
#[tokio::test]
async fn only_the_team_votes_and_reveals() -> anyhow::Result<()> {
    let server = TestServer::start().await;
    let created = server.create_workshop("Review").await?;
    let mut fac = server.connect(&created.token).await?;
    let breakouts = Command::CreateBreakouts {
        names: vec!["Team A".into(), "Team B".into()],
    };
    assert_eq!(fac.command(breakouts).await?, Ok(()));
    let view = current_view(&server, &created.token).await?;
    let rooms: Vec<String> = view
        .rooms
        .iter()
        .filter(|r| r.kind == RoomKind::Breakout)
        .map(|r| r.id.clone())
        .collect();
    let room = rooms[0].clone();
    let mut members = Vec::new();
    for (name, team) in [("Ann", &rooms[0]), ("Al", &rooms[0]), ("Bo", &rooms[1])] {
        let (id, token) = server.join(&created.join_code, name).await?;
        let moved = Command::MoveParticipant {
            participant: id,
            room: Some(team.clone()),
        };
        assert_eq!(fac.command(moved).await?, Ok(()));
        members.push(token);
    }
    let b_token = members.pop().unwrap();
    let mut members = vec![
        server.connect(&members[0]).await?,
        server.connect(&members[1]).await?,
    ];
    let (_, obs_token) = server.join(&created.observer_code, "Olu").await?;
    assert_eq!(
        fac.command(Command::SetStage {
            room: Some(room.clone()),
        })
        .await?,
        Ok(())
    );
    let mut other = server.connect(&b_token).await?;
    let mut obs = server.connect(&obs_token).await?;
    for m in &mut members {
        m.join(&room).await?;
    }
    other.join(&room).await?;
    obs.join(&room).await?;
    add_story(&mut members[0], &room, "story").await?;
    add_round(
        &mut members[0],
        &room,
        ("story", "round", "a0"),
        "fibonacci",
        false,
    )
    .await?;
    assert!(members[0]
        .apply(&room, seal("round", "votes", "coffee"))
        .await?
        .is_ok());
    for (who, c) in [("another team", &mut other), ("an observer", &mut obs)] {
        assert_eq!(
            c.apply(&room, seal("round", "votes", "8")).await?,
            Err(ErrorCode::Forbidden),
            "{who} votes"
        );
        assert_eq!(
            c.apply(&room, reveal("round")).await?,
            Err(ErrorCode::Forbidden),
            "{who} reveals"
        );
        let seen = frames_for(c, 300).await;
        assert!(
            !seen.iter().any(|f| f.contains("coffee")),
            "{who} saw the card: {seen:?}"
        );
        let (_, _, doc) = c.join(&room).await?;
        assert!(doc.objects["round"].revealed.is_none());
        assert_eq!(
            doc.objects["round"].sealed["votes"].len(),
            1,
            "{who} sees who voted"
        );
        assert!(!doc.canonical_json().contains("coffee"));
    }
    Ok(())
}

/// Value scoring: members spread 100 points each, at the same time, sealed; an overspend or an
/// unknown item is refused; the reveal shows every allocation and the totals per item.
#[tokio::test]
async fn value_allocations_never_overwrite_one_another() -> anyhow::Result<()> {
    let server = TestServer::start().await;
    let (mut fac, mut members, room, _) = one_team(&server, 3).await?;
    fac.join(&room).await?;
    for m in &mut members {
        m.join(&room).await?;
    }
    for (i, id) in ["s1", "s2", "s3"].iter().enumerate() {
        let item = create(
            id,
            "backlog_item",
            "root",
            &format!("a{i}"),
            &[("title", text(id))],
        );
        assert!(members[0].apply(&room, item).await?.is_ok());
    }
    let scoring = create(
        "value",
        "value_round",
        "root",
        "a9",
        &[
            ("budget", Value::Int(100)),
            ("auto_reveal", Value::Bool(true)),
        ],
    );
    assert!(fac.apply(&room, scoring).await?.is_ok());
    assert_eq!(
        members[0]
            .apply(&room, seal("value", "points", "s1=60,s2=41"))
            .await?,
        Err(ErrorCode::OverBudget)
    );
    assert_eq!(
        members[0]
            .apply(&room, seal("value", "points", "s1=60,ghost=10"))
            .await?,
        Err(ErrorCode::NotFound)
    );
    assert!(
        members[0]
            .apply(&room, set("value", &[("budget", Value::Int(50))]))
            .await?
            .is_ok(),
        "the budget may change before anyone has placed points"
    );
    assert!(members[0]
        .apply(&room, set("value", &[("budget", Value::Int(100))]))
        .await?
        .is_ok());
    // Two allocate at the same moment (send first, then read): no point of either reaches the
    // facilitator or the third member before the reveal.
    let allocations = ["s1=70,s2=30", "s2=100", "s1=10,s2=10,s3=80"];
    for (m, a) in members.iter_mut().zip(allocations).take(2) {
        let op = m.op(seal("value", "points", a));
        m.send(&plenary_protocol::ClientMsg::Op {
            room: room.clone(),
            op,
        })
        .await?;
    }
    let mut seen = frames_for(&mut fac, 500).await;
    seen.extend(frames_for(&mut members[2], 300).await);
    assert_eq!(
        seen.iter()
            .filter(|f| f.contains("\"action\":\"seal\""))
            .count(),
        4,
        "both seals reached both watchers, valueless: {seen:?}"
    );
    for f in &seen {
        assert!(
            !f.contains("s1=70") && !f.contains("s2=100"),
            "points leaked: {f}"
        );
    }
    // The third allocation completes the round: the server reveals it.
    assert!(members[2]
        .apply(&room, seal("value", "points", allocations[2]))
        .await?
        .is_ok());
    let op = revealed(&mut fac, "value").await?;
    let points = match &op.kind {
        OpKind::Reveal { values, .. } => values["points"].clone(),
        _ => unreachable!(),
    };
    assert_eq!(points.len(), 3, "every allocation survived: {points:?}");
    let totals = allocation_totals(points.values());
    assert_eq!(
        totals,
        BTreeMap::from([("s1".into(), 80), ("s2".into(), 140), ("s3".into(), 80)])
    );
    // The budget cannot change once points are placed.
    assert_eq!(
        members[1]
            .apply(&room, set("value", &[("budget", Value::Int(10))]))
            .await?,
        Err(ErrorCode::Conflict)
    );
    Ok(())
}

/// Two nodes: the voters sit on different nodes; the round reveals itself exactly once.
#[tokio::test]
async fn auto_reveal_across_two_nodes_happens_once() -> anyhow::Result<()> {
    let redis = RedisServer::start().await?;
    let (nodes, mut fac, tokens, _) = two_node_class(&redis, "autoreveal").await?;
    let room = "room-1";
    let mut a = Client::connect(&nodes[0].ws_url(), &tokens[0]).await?;
    let mut b = Client::connect(&nodes[1].ws_url(), &tokens[1]).await?;
    for c in [&mut a, &mut b, &mut fac] {
        c.join(room).await?;
    }
    add_story(&mut a, room, "story").await?;
    add_round(&mut a, room, ("story", "round", "a0"), "tshirt", true).await?;
    // Presence crosses nodes about once a second: let each node see the other's member.
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let (_, _, doc) = b.join(room).await?;
    b.clock = b.clock.max(doc.clock);
    a.clock = a.clock.max(doc.clock);
    assert!(a.apply(room, seal("round", "votes", "XS")).await?.is_ok());
    let seen = frames_for(&mut b, 300).await;
    assert!(!seen.iter().any(|f| f.contains("\"reveal\"")), "{seen:?}");
    assert!(!seen.iter().any(|f| f.contains("\"XS\"")), "{seen:?}");
    assert!(b.apply(room, seal("round", "votes", "XL")).await?.is_ok());
    let op = revealed(&mut fac, "round").await?;
    let votes = votes_of(&op);
    assert_eq!(votes[&a.participant], Value::Text("XS".into()));
    assert_eq!(votes[&b.participant], Value::Text("XL".into()));
    // Exactly one reveal in the room's history.
    let seen = frames_for(&mut fac, 1_500).await;
    assert!(
        !seen.iter().any(|f| f.contains("\"reveal\"")),
        "a second reveal: {seen:?}"
    );
    let (_, _, doc) = fac.join(room).await?;
    assert!(doc.objects["round"].revealed.is_some());
    Ok(())
}

/// Op ids of the server's own ops are refused from clients: a client that took one first
/// would make the server's reveal (or a template seed) a duplicate, never applied.
#[tokio::test]
async fn clients_cannot_take_the_servers_op_ids() -> anyhow::Result<()> {
    let server = TestServer::start().await;
    let (_fac, mut members, room, _) = one_team(&server, 1).await?;
    members[0].join(&room).await?;
    for id in ["server-reveal-2-0badf00d", "seed.tpl.vision.vision"] {
        let mut op = members[0].op(create("x", "backlog_item", "root", "a0", &[]));
        op.id = id.into();
        assert_eq!(
            members[0].apply_op(&room, op).await?,
            Err(ErrorCode::InvalidOp),
            "{id}"
        );
    }
    let (_, seq, doc) = members[0].join(&room).await?;
    assert_eq!((seq, doc.objects.len()), (0, 0), "nothing was applied");
    Ok(())
}

/// Two nodes, two auto-reveal rounds that become due at the same moment (the member who had
/// not voted in either leaves): both are revealed, each once.
#[tokio::test]
async fn two_rounds_due_at_once_are_both_revealed() -> anyhow::Result<()> {
    let redis = RedisServer::start().await?;
    let (nodes, mut fac, tokens, _) = two_node_class(&redis, "tworounds").await?;
    let room = "room-1";
    let mut a = Client::connect(&nodes[0].ws_url(), &tokens[0]).await?;
    let b = {
        let mut b = Client::connect(&nodes[1].ws_url(), &tokens[1]).await?;
        b.join(room).await?;
        b
    };
    a.join(room).await?;
    fac.join(room).await?;
    add_story(&mut a, room, "story").await?;
    add_round(&mut a, room, ("story", "r1", "a0"), "fibonacci", true).await?;
    add_round(&mut a, room, ("story", "r2", "a1"), "tshirt", true).await?;
    // Let node A see node B's member, then vote in both rounds through node A.
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    assert!(a.apply(room, seal("r1", "votes", "8")).await?.is_ok());
    assert!(a.apply(room, seal("r2", "votes", "L")).await?.is_ok());
    let seen = frames_for(&mut fac, 300).await;
    assert!(!seen.iter().any(|f| f.contains("\"reveal\"")), "{seen:?}");
    // B leaves: both rounds are complete at once.
    drop(b);
    let mut revealed_ids = Vec::new();
    for _ in 0..2 {
        let op = fac
            .recv_until(|msg| match msg {
                ServerMsg::Op { op, .. } if matches!(op.kind, OpKind::Reveal { .. }) => {
                    Some(op.clone())
                }
                _ => None,
            })
            .await?;
        assert_eq!(op.stamp.client, "server");
        revealed_ids.push((op.kind.object().to_owned(), op.id));
    }
    revealed_ids.sort();
    assert_eq!(revealed_ids[0].0, "r1");
    assert_eq!(revealed_ids[1].0, "r2");
    assert_ne!(revealed_ids[0].1, revealed_ids[1].1, "two op ids");
    let seen = frames_for(&mut fac, 1_500).await;
    assert!(
        !seen.iter().any(|f| f.contains("\"reveal\"")),
        "no third reveal: {seen:?}"
    );
    let (_, _, doc) = fac.join(room).await?;
    assert_eq!(
        doc.objects["r1"].sealed["votes"][&a.participant].value,
        Value::Text("8".into())
    );
    assert_eq!(
        doc.objects["r2"].sealed["votes"][&a.participant].value,
        Value::Text("L".into())
    );
    Ok(())
}
