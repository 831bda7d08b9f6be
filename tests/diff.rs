//! `dpctl diff` against the fake API server over HTTP: the world comes from the cluster as the
//! operator builds it, and every object is answered by a server-side dry-run apply.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use dataproduct_operator::api::load::{load_paths, Document, LoadOptions};
use dataproduct_operator::api::{DataProduct, DataProductTemplate};
use dataproduct_operator::cli::{run, Cli};
use kube::api::{Api, PostParams};
use support::apiserver::FakeApiServer;
use support::scenarios::{self, Cluster};

struct Setup {
    cluster: Cluster,
    kubeconfig: PathBuf,
    dir: PathBuf,
}

async fn setup(server: &FakeApiServer) -> Setup {
    let (cluster, kubeconfig) = Cluster::fake(server, Duration::from_secs(30)).await;
    let dir = kubeconfig.parent().unwrap().to_path_buf();
    scenarios::install_crds(&cluster).await;
    scenarios::domain_namespace(&cluster.client, "messaging", "messaging").await;
    for doc in load(&[repo("templates")]) {
        if let Document::Template(t) = doc {
            Api::<DataProductTemplate>::all(cluster.client.clone())
                .create(&PostParams::default(), &t)
                .await
                .unwrap();
        }
    }
    Setup {
        cluster,
        kubeconfig,
        dir,
    }
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn load(paths: &[PathBuf]) -> Vec<Document> {
    let (loaded, errors) = load_paths(paths, &LoadOptions::default());
    assert!(errors.is_empty(), "{errors:?}");
    loaded.into_iter().map(|l| l.document).collect()
}

/// `dpctl diff ARGS --kubeconfig K`: exit code and stdout (stderr must be empty on success).
async fn diff(kubeconfig: &Path, args: &[&str]) -> (u8, String, String) {
    let mut argv: Vec<String> = ["dpctl", "diff"].iter().map(|s| s.to_string()).collect();
    argv.extend(args.iter().map(|s| s.to_string()));
    argv.push("--kubeconfig".into());
    argv.push(kubeconfig.display().to_string());
    tokio::task::spawn_blocking(move || {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(Cli::parse_from(argv), &mut out, &mut err);
        // ExitCode has no accessor; its Debug form carries the number.
        let code = format!("{code:?}")
            .chars()
            .filter(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap();
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    })
    .await
    .unwrap()
}

fn changes(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with('~') || l.starts_with('+') || l.starts_with('-'))
        .collect()
}

/// Right after the operator applied `messaging/conversations` (and its producer), diff from the
/// same files reports nothing: the producers come from the cluster, as the operator sees them.
/// A changed schedule shows as `~` with the field; the dry runs store nothing; `--offline`
/// still works and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_right_after_the_operator_applied_shows_nothing() {
    let server = FakeApiServer::start().await;
    let s = setup(&server).await;
    let client = &s.cluster.client;
    let products: Api<DataProduct> = Api::namespaced(client.clone(), "messaging");
    let operator = scenarios::Operator::start(&s.cluster, vec!["messaging".into()]).await;
    for doc in load(&[
        repo("examples/messaging/events.yaml"),
        repo("examples/messaging/conversations.yaml"),
    ]) {
        if let Document::Product(p) = doc {
            products.create(&PostParams::default(), &p).await.unwrap();
        }
    }
    for name in ["events", "conversations"] {
        scenarios::eventually(
            s.cluster.timeout,
            &format!("{name} Ready with its inputs ready"),
            || async { scenarios::settled(&products, name).await },
        )
        .await;
    }
    // Nothing writes while the diffs run, so the resourceVersion shows whether they stored.
    operator.stop().await;
    let before = server.resource_version();

    let conversations = repo("examples/messaging/conversations.yaml");
    let templates = repo("templates");
    let (code, out, err) = diff(
        &s.kubeconfig,
        &[
            "-f",
            conversations.to_str().unwrap(),
            "-t",
            templates.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    assert!(changes(&out).is_empty(), "{out}");
    assert!(out.contains("= CronJob"), "{out}");
    assert!(out.contains("dryRun=All"), "{out}");

    // A changed schedule: `~` with the field, as the API server would store it.
    let changed = s.dir.join("conversations.yaml");
    let text = std::fs::read_to_string(&conversations).unwrap();
    assert!(text.contains("\"0 3 * * *\""));
    std::fs::write(&changed, text.replace("\"0 3 * * *\"", "\"0 4 * * *\"")).unwrap();
    let (code, out, err) = diff(
        &s.kubeconfig,
        &[
            "-f",
            changed.to_str().unwrap(),
            "-t",
            templates.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!((code, err.as_str()), (1, ""), "{out}");
    let changed_lines = changes(&out);
    assert!(
        changed_lines.iter().any(|l| l.starts_with("~ CronJob")),
        "{out}"
    );
    assert!(
        out.contains("-  schedule: 0 3 * * *") && out.contains("+  schedule: 0 4 * * *"),
        "{out}"
    );
    assert!(
        !changed_lines.iter().any(|l| l.starts_with('+')),
        "only an update: {out}"
    );

    // The dry runs stored nothing.
    assert_eq!(server.resource_version(), before, "a dry run was stored");
    let live = products.get("conversations").await.unwrap();
    assert!(live.spec.pipelines[0].schedule.contains("0 3"));

    // --offline: today's plan-only diff, labelled as such.
    let (code, out, err) = diff(
        &s.kubeconfig,
        &[
            "-f",
            conversations.to_str().unwrap(),
            "-t",
            templates.to_str().unwrap(),
            "--offline",
        ],
    )
    .await;
    assert!(out.starts_with("# offline"), "{out}");
    // Planned without the producer the operator sees: the input's variables would go (the
    // reported bug, which --offline keeps by design).
    assert_eq!((code, err.as_str()), (1, ""), "{out}");
    assert!(out.contains("~ CronJob"), "{out}");
    assert!(out.contains("DP_INPUT_EVENTS_LOCATION"), "{out}");
    assert!(
        out.contains("# DataProduct messaging/conversations"),
        "{out}"
    );
    assert_eq!(server.resource_version(), before, "offline wrote");
    let _ = std::fs::remove_dir_all(&s.dir);
}

/// Before the operator ran, the product namespaces do not exist: the API server refuses a dry
/// run in them (404), and diff shows every object as a create instead of an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_in_a_namespace_not_created_yet_are_creates() {
    let server = FakeApiServer::start().await;
    server.set_strict_namespaces(true);
    let s = setup(&server).await;
    let before = server.resource_version();
    let events = repo("examples/messaging/events.yaml");
    let conversations = repo("examples/messaging/conversations.yaml");
    let templates = repo("templates");
    let (code, out, err) = diff(
        &s.kubeconfig,
        &[
            "-f",
            events.to_str().unwrap(),
            conversations.to_str().unwrap(),
            "-t",
            templates.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!((code, err.as_str()), (1, ""), "{out}");
    assert!(!out.lines().any(|l| l.starts_with('!')), "{out}");
    assert!(
        out.contains("\n+ Namespace messaging-conversations\n"),
        "{out}"
    );
    assert!(out.contains("\n+ Namespace messaging-events\n"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("+ ") && l.contains("CronJob")),
        "{out}"
    );
    assert!(
        !out.lines()
            .any(|l| l.starts_with("= ") || l.starts_with("~ ")),
        "{out}"
    );
    assert_eq!(server.resource_version(), before, "a dry run was stored");
    let _ = std::fs::remove_dir_all(&s.dir);
}
