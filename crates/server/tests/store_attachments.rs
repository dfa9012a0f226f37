//! The attachment store contract (`store/attachments.rs`), against every implementation:
//! uploads by clientId, quota and open-upload limits, offsets, finishing, binding to one
//! message, who may read, deletion with the message, unreferenced blobs, expiry.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use tidings_proto::{ContentType, ConversationKind, Timestamp};
use tidings_server::store::sqlite::{SqliteStore, Synchronous};
use tidings_server::store::*;
use tidings_testkit::TempDir;

fn implementations() -> Vec<(&'static str, Arc<dyn Store>, TempDir)> {
    let dir = TempDir::new("store-att");
    let sqlite = SqliteStore::open(&dir.0.join("t.db"), Synchronous::Full).unwrap();
    vec![
        ("sqlite", Arc::new(sqlite), dir),
        // A fresh database of the test binary's private PostgreSQL.
        (
            "postgres",
            Arc::new(tidings_testkit::postgres_store()),
            TempDir::new("store-pg"),
        ),
    ]
}

async fn setup(s: &dyn Store) -> String {
    for name in ["alice", "bob", "carol"] {
        s.create_user(UserRecord {
            name: name.into(),
            display_name: name.to_uppercase(),
            password_hash: None,
            roles: vec![],
            created_at: Timestamp(1),
        })
        .await
        .unwrap();
    }
    let (c, _) = s
        .create_conversation(NewConversation {
            id: new_id("c"),
            kind: ConversationKind::Group,
            title: Some("g".into()),
            created_by: "alice".into(),
            participants: vec!["alice".into(), "bob".into()],
            created_at: Timestamp::now(),
        })
        .await
        .unwrap();
    c.id
}

fn upload(cid: &str, who: &str, key: Option<&str>, length: u64) -> NewUpload {
    NewUpload {
        id: new_id("a"),
        uploader: who.into(),
        client_id: key.map(str::to_owned),
        conversation_id: cid.into(),
        name: "f.bin".into(),
        declared_type: None,
        length,
        created_at: Timestamp(1000),
        expires_at: Timestamp(5000),
        quota: 1000,
        max_open: 2,
    }
}

fn finished(key: &str, size: u64) -> Finished {
    Finished {
        blob: BlobRef {
            key: key.into(),
            size,
        },
        size,
        content_type: "application/octet-stream".into(),
        width: None,
        height: None,
        thumbnail: None,
    }
}

fn new_record(c: Created) -> AttachmentRecord {
    match c {
        Created::New(a) | Created::Existing(a) => a,
        other => panic!("expected an upload, got {other:?}"),
    }
}

#[tokio::test]
async fn uploads_finish_bind_once_and_leave_with_their_message() {
    for (name, s, _dir) in implementations() {
        let s = &*s;
        let cid = setup(s).await;
        let a = new_record(
            s.create_upload(upload(&cid, "alice", Some("k1"), 100))
                .await
                .unwrap(),
        );
        // The same clientId answers the same upload; another length is a conflict.
        let again = s
            .create_upload(upload(&cid, "alice", Some("k1"), 100))
            .await
            .unwrap();
        assert_eq!(again, Created::Existing(a.clone()), "{name}");
        assert!(matches!(
            s.create_upload(upload(&cid, "alice", Some("k1"), 99)).await,
            Err(StoreError::Conflict(_))
        ));
        // Outsiders cannot upload; limits hold.
        assert!(matches!(
            s.create_upload(upload(&cid, "carol", None, 10)).await,
            Err(StoreError::Forbidden(_))
        ));
        let b = new_record(
            s.create_upload(upload(&cid, "alice", None, 100))
                .await
                .unwrap(),
        );
        assert_eq!(
            s.create_upload(upload(&cid, "alice", None, 10))
                .await
                .unwrap(),
            Created::TooManyOpen
        );
        // The offset only grows.
        s.set_upload_offset(&a.id, 60).await.unwrap();
        s.set_upload_offset(&a.id, 30).await.unwrap();
        assert_eq!(s.attachment(&a.id).await.unwrap().unwrap().offset, 60);
        s.finish_upload(&a.id, finished("aa11aa11", 100))
            .await
            .unwrap();
        s.finish_upload(&b.id, finished("aa11aa11", 100))
            .await
            .unwrap();
        assert_eq!(
            s.create_upload(upload(&cid, "alice", None, 900))
                .await
                .unwrap(),
            Created::OverQuota { used: 200 }
        );
        // Before a message: only the uploader reads it.
        assert!(s
            .readable_attachment(&a.id, "alice")
            .await
            .unwrap()
            .is_some());
        assert!(s.readable_attachment(&a.id, "bob").await.unwrap().is_none());
        let m = NewMessage {
            id: new_id("m"),
            conversation_id: cid.clone(),
            sender: "alice".into(),
            client_id: "m1".into(),
            content: String::new(),
            content_type: ContentType::Text,
            created_at: Timestamp::now(),
        };
        let refs = MessageRefs {
            attachments: vec![a.id.clone()],
            ..Default::default()
        };
        let sent = s.append_entry(m.clone(), refs.clone()).await.unwrap();
        assert_eq!(sent.message.attachments[0].id, a.id);
        // Used once only; by its uploader only.
        let mut m2 = m.clone();
        m2.client_id = "m2".into();
        m2.id = new_id("m");
        assert!(matches!(
            s.append_entry(m2, refs).await,
            Err(StoreError::Invalid(_))
        ));
        assert!(s.readable_attachment(&a.id, "bob").await.unwrap().is_some());
        assert!(s
            .readable_attachment(&a.id, "carol")
            .await
            .unwrap()
            .is_none());
        // The blob is shared by two attachments: unreferenced only when both are gone.
        assert!(s.unreferenced_blobs().await.unwrap().is_empty());
        s.delete_message(&cid, &sent.message.id, "alice")
            .await
            .unwrap();
        assert!(s.attachment(&a.id).await.unwrap().is_none(), "{name}");
        assert!(s.unreferenced_blobs().await.unwrap().is_empty());
        assert!(s.delete_upload(&b.id, "bob").await.unwrap().is_none());
        assert!(s.delete_upload(&b.id, "alice").await.unwrap().is_some());
        assert_eq!(
            s.unreferenced_blobs().await.unwrap(),
            vec!["aa11aa11".to_owned()]
        );
        s.forget_blobs(vec!["aa11aa11".into()]).await.unwrap();
        assert!(s.unreferenced_blobs().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn unused_uploads_expire_and_used_ones_do_not() {
    for (name, s, _dir) in implementations() {
        let s = &*s;
        let cid = setup(s).await;
        let open = new_record(
            s.create_upload(upload(&cid, "alice", None, 10))
                .await
                .unwrap(),
        );
        let used = new_record(
            s.create_upload(upload(&cid, "alice", None, 10))
                .await
                .unwrap(),
        );
        s.finish_upload(&used.id, finished("bb22bb22", 10))
            .await
            .unwrap();
        let m = NewMessage {
            id: new_id("m"),
            conversation_id: cid.clone(),
            sender: "alice".into(),
            client_id: "m".into(),
            content: String::new(),
            content_type: ContentType::Text,
            created_at: Timestamp::now(),
        };
        let refs = MessageRefs {
            attachments: vec![used.id.clone()],
            ..Default::default()
        };
        s.append_entry(m, refs).await.unwrap();
        assert!(
            s.expire_uploads(Timestamp(4999)).await.unwrap().is_empty(),
            "{name}"
        );
        let gone = s.expire_uploads(Timestamp(5000)).await.unwrap();
        assert_eq!(
            gone.iter().map(|a| &a.id).collect::<Vec<_>>(),
            vec![&open.id]
        );
        assert!(s.attachment(&used.id).await.unwrap().is_some());
        assert!(s.unfinished_uploads().await.unwrap().is_empty());
    }
}
