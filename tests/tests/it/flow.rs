//! The whole facilitator flow: a workshop, 12 attendees, 3 auto-assigned breakouts, an exercise
//! broadcast with a template and a timer whose expiry closes the breakouts, the help queue, a
//! review stage with feedback, and everyone back in plenary with the boards intact.

use std::collections::HashMap;

use plenary_protocol::workshop::{Command, Template, TimerState, WorkshopView};
use plenary_protocol::{ErrorCode, ServerMsg, TimerEvent};
use plenary_tests::{create, set, text, Client, TestServer};

async fn view_until(
    client: &mut Client,
    pred: impl Fn(&WorkshopView) -> bool,
) -> anyhow::Result<WorkshopView> {
    client.view_until(pred).await
}

#[tokio::test]
async fn facilitator_runs_a_whole_exercise() -> anyhow::Result<()> {
    let server = TestServer::start().await;
    let created = server.create_workshop("CSPO day 1").await?;
    let mut fac = server.connect(&created.token).await?;

    let mut attendees: Vec<Client> = Vec::new();
    for i in 0..12 {
        let (_, token) = server
            .join(&created.join_code, &format!("Attendee {i}"))
            .await?;
        attendees.push(server.connect(&token).await?);
    }
    let names = vec![
        "Team A".to_owned(),
        "Team B".to_owned(),
        "Team C".to_owned(),
    ];
    assert_eq!(
        fac.command(Command::CreateBreakouts { names }).await?,
        Ok(())
    );
    assert_eq!(fac.command(Command::AssignAuto).await?, Ok(()));
    assert_eq!(fac.command(Command::OpenBreakouts).await?, Ok(()));

    // Balanced: 12 attendees over 3 rooms is 4 each.
    let view = view_until(&mut fac, |v| v.breakouts_open).await?;
    let mut sizes: HashMap<String, usize> = HashMap::new();
    for p in view
        .participants
        .iter()
        .filter(|p| p.role == plenary_protocol::Role::Attendee)
    {
        *sizes
            .entry(p.room.clone().expect("every attendee assigned"))
            .or_default() += 1;
    }
    assert_eq!(sizes.len(), 3);
    assert!(
        sizes.values().all(|&n| n == 4),
        "unbalanced teams: {sizes:?}"
    );

    // Everyone goes to the room the view assigns them, and sees breakouts open.
    let mut team_of: HashMap<String, String> = HashMap::new();
    for a in attendees.iter_mut() {
        let v = view_until(a, |v| v.breakouts_open).await?;
        let room = v
            .participants
            .iter()
            .find(|p| p.id == a.participant)
            .unwrap()
            .room
            .clone()
            .unwrap();
        a.join(&room).await?;
        team_of.insert(a.participant.clone(), room);
    }

    // Broadcast: a vision board template, 2 s timebox, warning 1 s before the end, auto-close.
    let exercise = Command::BroadcastExercise {
        title: "Product Vision Board".into(),
        instructions: "Fill in all five sections".into(),
        timebox_secs: 2,
        template: Some(Template::VisionBoard),
        rooms: None,
        auto_close: true,
        warning_secs: Some(1),
    };
    assert_eq!(fac.command(exercise).await?, Ok(()));

    // Every attendee sees the exercise and its timer, and the five seeded sections arrive.
    for a in attendees.iter_mut() {
        let v = view_until(a, |v| v.exercise.is_some()).await?;
        assert_eq!(v.exercise.as_ref().unwrap().title, "Product Vision Board");
        assert_eq!(v.exercise.as_ref().unwrap().rooms.len(), 3);
        let timer = v.timer.expect("timer set");
        assert_eq!(timer.state, TimerState::Running);
        assert_eq!(timer.duration_ms, 2_000);
        let mut sections = 0;
        while sections < 5 {
            if let ServerMsg::Op { op, .. } = a.recv().await? {
                if op.id.starts_with("seed.tpl.vision.") {
                    sections += 1;
                }
            }
        }
    }

    // One attendee of the first team adds a note and raises a hand.
    let team_a = team_of[&attendees[0].participant].clone();
    let note = create(
        "note-1",
        "vision_note",
        "tpl.vision.needs",
        "a0",
        &[("text", text("Trainers lack one control room"))],
    );
    assert!(attendees[0].apply(&team_a, note).await?.is_ok());
    let hand = Command::RaiseHand {
        note: "Is this a need or a feature?".into(),
        object: Some("note-1".into()),
    };
    assert_eq!(attendees[0].command(hand).await?, Ok(()));
    let v = view_until(&mut fac, |v| !v.help.is_empty()).await?;
    assert_eq!(v.help[0].room, team_a);
    assert_eq!(v.help[0].object.as_deref(), Some("note-1"));
    // The facilitator "goes to the room" and resolves the request.
    fac.join(&team_a).await?;
    assert_eq!(
        fac.command(Command::ResolveHelp { id: v.help[0].id })
            .await?,
        Ok(())
    );

    // The timer warns, then expires and closes the breakouts, for every attendee.
    for a in attendees.iter_mut() {
        let warned = a.recv_until(|m| match m {
            ServerMsg::Timer { event, .. } => Some(*event),
            _ => None,
        });
        assert_eq!(warned.await?, TimerEvent::Warning);
        let expired = a.recv_until(|m| match m {
            ServerMsg::Timer { event, .. } => Some(*event),
            _ => None,
        });
        assert_eq!(expired.await?, TimerEvent::Expired);
        let v = view_until(a, |v| !v.breakouts_open).await?;
        assert_eq!(v.timer.unwrap().state, TimerState::Expired);
    }

    // Review: team A on stage. A member of another team can read it and add feedback only.
    assert_eq!(
        fac.command(Command::SetStage {
            room: Some(team_a.clone())
        })
        .await?,
        Ok(())
    );
    let outsider = attendees
        .iter()
        .position(|a| team_of[&a.participant] != team_a)
        .unwrap();
    let o = &mut attendees[outsider];
    view_until(o, |v| v.stage.is_some()).await?;
    let (_, _, doc) = o.join(&team_a).await?;
    assert!(
        doc.objects.contains_key("note-1"),
        "the staged board is visible"
    );
    let feedback = create(
        "fb-1",
        "feedback",
        "root",
        "a0",
        &[("text", text("Clear target group!"))],
    );
    assert!(o.apply(&team_a, feedback).await?.is_ok());
    let edit = set("note-1", &[("text", text("vandalised"))]);
    assert_eq!(o.apply(&team_a, edit).await?, Err(ErrorCode::Forbidden));
    // The team itself still edits its board on stage.
    let own_edit = set(
        "note-1",
        &[("text", text("Trainers lack one live control room"))],
    );
    assert!(attendees[0].apply(&team_a, own_edit).await?.is_ok());

    // Clearing the stage takes the outsider out of the room again.
    assert_eq!(fac.command(Command::SetStage { room: None }).await?, Ok(()));
    let o = &mut attendees[outsider];
    let left = o.recv_until(|m| match m {
        ServerMsg::Left { room, .. } => Some(room.clone()),
        _ => None,
    });
    assert_eq!(left.await?, team_a);

    // Back in plenary with the boards intact; reopening uses the same teams.
    let (_, _, doc) = fac.join(&team_a).await?;
    assert_eq!(
        doc.objects["note-1"].get("text"),
        Some(&text("Trainers lack one live control room"))
    );
    assert!(doc.objects.contains_key("fb-1"));
    for room in ["room-1", "room-2", "room-3"] {
        let (_, _, doc) = fac.join(room).await?;
        assert_eq!(
            doc.children("root")
                .iter()
                .filter(|(_, o)| o.ty == "vision_section")
                .count(),
            5
        );
    }
    assert_eq!(fac.command(Command::OpenBreakouts).await?, Ok(()));
    let v = view_until(&mut fac, |v| v.breakouts_open).await?;
    for p in v
        .participants
        .iter()
        .filter(|p| p.role == plenary_protocol::Role::Attendee)
    {
        assert_eq!(
            p.room.as_ref(),
            Some(&team_of[&p.id]),
            "teams are kept across exercises"
        );
    }
    server.stop().await;
    Ok(())
}

/// A help request follows its participant: moved to another team, they are found in the new room.
#[tokio::test]
async fn a_help_request_follows_a_moved_participant() -> anyhow::Result<()> {
    let server = TestServer::start().await;
    let created = server.create_workshop("Help").await?;
    let mut fac = server.connect(&created.token).await?;
    let breakouts = Command::CreateBreakouts {
        names: vec!["A".into(), "B".into()],
    };
    assert_eq!(fac.command(breakouts).await?, Ok(()));
    let (ann, token) = server.join(&created.join_code, "Ann").await?;
    let to = |room: &str| Command::MoveParticipant {
        participant: ann.clone(),
        room: Some(room.to_owned()),
    };
    assert_eq!(fac.command(to("room-1")).await?, Ok(()));
    let mut a = server.connect(&token).await?;
    let hand = Command::RaiseHand {
        note: "Stuck on the vision".into(),
        object: None,
    };
    assert_eq!(a.command(hand).await?, Ok(()));
    let v = view_until(&mut fac, |v| !v.help.is_empty()).await?;
    assert_eq!(v.help[0].room, "room-1");
    assert_eq!(fac.command(to("room-2")).await?, Ok(()));
    let v = view_until(&mut fac, |v| v.help.iter().all(|h| h.room != "room-1")).await?;
    assert_eq!(v.help.len(), 1);
    assert_eq!(v.help[0].room, "room-2", "the request moved with Ann");
    server.stop().await;
    Ok(())
}
