//! `behalf mcp proxy`: the relay between an MCP client and a real server. Three threads: the
//! client reader forwards what needs no decision at once; a decision worker verifies gated
//! calls (so one waiting on a locked database holds up nothing else); the server reader
//! checks answers before the client sees them.

use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{json, Value};

use super::decider::{Decider, Decisions};
use super::filesystem;
use super::framing::{
    batches_allowed, id_key, parse_lossy, parse_strict, read_frame, FrameError, Out,
};
use super::gate::{explicitly_allowed, Context, Plan};
use super::outputs::{self, Checker};
use super::profiles;
use super::schema::Catalog;
use super::{
    error_response, refusal_text, refusal_without_packet, sanitize_vendor, tool_error, ProxyArgs,
};
use crate::commands::default_agent;
use crate::error::{exit, CliError, Result};
use crate::project::{self, Project};
use crate::Globals;

/// Methods forwarded as they are. Anything else with an id is answered "method not found".
const PASSTHROUGH: [&str; 6] = [
    "ping",
    "resources/templates/list",
    "resources/unsubscribe",
    "prompts/list",
    "logging/setLevel",
    "initialize",
];
/// Methods verified before they are forwarded.
const GATED: [&str; 5] = [
    "tools/call",
    "resources/read",
    "resources/subscribe",
    "prompts/get",
    "completion/complete",
];
/// JSON-RPC error code of a request behalf did not let through (server-defined range).
const DENIED_CODE: i64 = -32001;
/// How long the proxy waits for the server to list its tools on its own request.
const LIST_TIMEOUT: Duration = Duration::from_secs(10);

/// What to do with the server's answer to a forwarded request.
#[derive(Clone, Debug)]
enum Pending {
    Initialize,
    ToolsList,
    ToolCall(Plan),
    Prompt,
    ResourceRead,
    ResourceList,
    TaskResult(Plan),
    TaskList,
}

enum Route {
    Forward(Value),
    Answer(Value),
    Drop,
}

/// The server's stdin, closable once the client is done.
struct ServerIn(Mutex<Option<ChildStdin>>);

impl ServerIn {
    fn send(&self, v: &Value) -> bool {
        let mut guard = lock(&self.0);
        match guard.as_mut() {
            Some(w) => writeln!(w, "{v}").and_then(|_| w.flush()).is_ok(),
            None => false,
        }
    }
    fn close(&self) {
        lock(&self.0).take();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

struct Shared {
    ctx: Context,
    /// The local policy and state; `None` with `--url` (the server keeps both).
    project: Option<Project>,
    hide_blocked: bool,
    to_client: Out<std::io::Stdout>,
    to_server: ServerIn,
    catalog: Mutex<Catalog>,
    pending: Mutex<HashMap<String, Pending>>,
    /// The proxy's own requests to the server (tools/list), by id, with who waits for them.
    private: Mutex<HashMap<String, Sender<Value>>>,
    /// Requests the server sent the client, by id (to read the client's roots/list answer).
    server_requests: Mutex<HashMap<String, String>>,
    roots: Mutex<Vec<PathBuf>>,
    /// Tasks created by allowed calls: their ids, with the call's plan for their results.
    tasks: Mutex<HashMap<String, Plan>>,
    protocol: Mutex<Option<String>>,
    counter: AtomicU64,
}

pub fn proxy(g: &Globals, a: ProxyArgs) -> Result<u8> {
    let (agent, project, decider) = match &a.url {
        // A server keeps the policy and the state: nothing local is read or written.
        Some(url) => {
            let server = crate::remote::RemoteServer::from_env(url)?;
            let agent = a.agent.clone().ok_or_else(|| {
                CliError::usage("--url needs the agent: --agent ID or BEHALF_AGENT")
                    .hint("the server checks that the key in BEHALF_AGENT_KEY is this agent's")
            })?;
            eprintln!("behalf: decisions for {agent} on {}", server.url());
            (agent, None, Decisions::Remote(server))
        }
        None => {
            let project = g.project()?;
            let loaded = project.load()?;
            let agent = default_agent(a.agent.clone(), &loaded)?;
            if loaded.policy.passport_for(&agent).is_none() {
                eprintln!(
                    "behalf: warning: no passport for agent `{agent}` in {}; every call will be denied",
                    project.display()
                );
            }
            let decider = Decisions::Local(Box::new(Decider::open(project.clone())?));
            crate::webhooks::spawn_background(&project);
            (agent, Some(project), decider)
        }
    };
    let server = sanitize_vendor(&a.server);
    let profile = match &a.profile {
        Some(p) => profiles::load(p)?,
        None => profiles::builtin(&server).unwrap_or_default(),
    };
    let ctx = Context {
        agent,
        vendor: profile.vendor.clone().unwrap_or_else(|| server.clone()),
        policy_path: project
            .as_ref()
            .and_then(|p| std::fs::canonicalize(&p.policy_path).ok()),
        state_dir: project
            .as_ref()
            .and_then(|p| std::fs::canonicalize(&p.state_dir).ok()),
        cwd: std::env::current_dir()?,
        profile,
    };
    let roots = if ctx.profile.filesystem {
        filesystem::roots_from_command(&a.command)
    } else {
        Vec::new()
    };
    let (program, args) = a
        .command
        .split_first()
        .ok_or_else(|| CliError::usage("the server command is missing after `--`"))?;
    let mut child: Child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| {
            CliError::usage(format!("cannot start the MCP server `{program}`: {e}"))
                .hint("check the command after `--` (is it installed and on PATH?)")
        })?;
    let child_in = child
        .stdin
        .take()
        .ok_or_else(|| CliError::new(exit::SOFTWARE, "the server's stdin is not piped"))?;
    let child_out = child
        .stdout
        .take()
        .ok_or_else(|| CliError::new(exit::SOFTWARE, "the server's stdout is not piped"))?;
    let shared = Arc::new(Shared {
        ctx,
        project,
        hide_blocked: a.hide_blocked,
        to_client: Out::new(std::io::stdout()),
        to_server: ServerIn(Mutex::new(Some(child_in))),
        catalog: Mutex::new(Catalog::new()),
        pending: Mutex::new(HashMap::new()),
        private: Mutex::new(HashMap::new()),
        server_requests: Mutex::new(HashMap::new()),
        roots: Mutex::new(roots),
        tasks: Mutex::new(HashMap::new()),
        protocol: Mutex::new(None),
        counter: AtomicU64::new(0),
    });
    let child = Arc::new(Mutex::new(child));
    {
        let shared = shared.clone();
        let child = child.clone();
        std::thread::spawn(move || {
            server_reader(&shared, child_out);
            // The server is gone: end the session so the client notices.
            let code = lock(&child).wait().ok().and_then(|s| s.code()).unwrap_or(0);
            std::process::exit(code);
        });
    }
    let (jobs, inbox) = mpsc::channel::<Value>();
    let worker = {
        let shared = shared.clone();
        std::thread::spawn(move || decision_worker(&shared, decider, inbox))
    };
    client_reader(&shared, &jobs);
    // The client closed its side: finish the calls being decided, then close the server's input.
    drop(jobs);
    let _ = worker.join();
    shared.to_server.close();
    // Under the 2 s a stdio client (the SDK) gives us before SIGTERM, so the server is never orphaned.
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    loop {
        if matches!(lock(&child).try_wait(), Ok(Some(_)) | Err(_)) {
            break;
        }
        if std::time::Instant::now() > deadline {
            let mut c = lock(&child);
            let _ = c.kill();
            let _ = c.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(exit::OK)
}

// --- client → server -------------------------------------------------------------------------

fn is_gated(m: &Value) -> bool {
    m.get("id").is_some()
        && m.get("method")
            .and_then(Value::as_str)
            .is_some_and(|method| GATED.contains(&method))
        && m.get("jsonrpc").and_then(Value::as_str) == Some("2.0")
}

fn client_reader(shared: &Shared, jobs: &Sender<Value>) {
    let mut input = BufReader::new(std::io::stdin());
    let mut frame = Vec::new();
    while read_frame(&mut input, &mut frame).is_some() {
        if frame.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = match parse_strict(&frame) {
            Ok(v) => v,
            Err(FrameError::NotJson) => {
                shared.to_client.send(&error_response(
                    &Value::Null,
                    -32700,
                    "parse error: the frame is not JSON; nothing was forwarded",
                ));
                continue;
            }
            Err(FrameError::DuplicateKey(path)) => {
                let id = parse_lossy(&frame)
                    .and_then(|v| v.get("id").cloned())
                    .unwrap_or(Value::Null);
                shared.to_client.send(&error_response(
                    &id,
                    -32600,
                    &format!(
                        "invalid request: the frame repeats the key at `{path}`, so readers would disagree on it; nothing was forwarded"
                    ),
                ));
                continue;
            }
        };
        match parsed {
            Value::Array(items) => {
                let version = lock(&shared.protocol).clone();
                if items.is_empty() {
                    shared
                        .to_client
                        .send(&error_response(&Value::Null, -32600, "empty batch"));
                } else if !batches_allowed(version.as_deref()) {
                    shared.to_client.send(&error_response(
                        &Value::Null,
                        -32600,
                        &format!(
                            "invalid request: JSON-RPC batches are not part of MCP protocol version {}; nothing was forwarded",
                            version.as_deref().unwrap_or("(not yet negotiated)")
                        ),
                    ));
                } else if items.iter().any(is_gated) {
                    let _ = jobs.send(Value::Array(items));
                } else {
                    let routes = items.into_iter().map(|m| route_now(shared, m)).collect();
                    deliver_batch(shared, routes);
                }
            }
            Value::Object(_) if is_gated(&parsed) => {
                let _ = jobs.send(parsed);
            }
            Value::Object(_) => deliver(shared, route_now(shared, parsed)),
            _ => {
                shared
                    .to_client
                    .send(&error_response(&Value::Null, -32600, "invalid request"));
            }
        }
    }
}

fn deliver(shared: &Shared, route: Route) {
    match route {
        Route::Forward(v) => {
            shared.to_server.send(&v);
        }
        Route::Answer(v) => {
            shared.to_client.send(&v);
        }
        Route::Drop => {}
    }
}

fn deliver_batch(shared: &Shared, routes: Vec<Route>) {
    let mut forward = Vec::new();
    let mut answers = Vec::new();
    for r in routes {
        match r {
            Route::Forward(v) => forward.push(v),
            Route::Answer(v) => answers.push(v),
            Route::Drop => {}
        }
    }
    if !answers.is_empty() {
        shared.to_client.send(&Value::Array(answers));
    }
    if !forward.is_empty() {
        shared.to_server.send(&Value::Array(forward));
    }
}

fn remember(shared: &Shared, id: &Value, p: Pending) {
    lock(&shared.pending).insert(id_key(id), p);
}

/// Everything that needs no decision: relayed, answered, or dropped at once.
fn route_now(shared: &Shared, m: Value) -> Route {
    let id = m.get("id").cloned();
    let Some(method) = m.get("method").and_then(Value::as_str).map(str::to_string) else {
        // The client's answer to a server's request (roots/list, sampling, elicitation, …).
        if let Some(id) = &id {
            if m.get("result").is_some() || m.get("error").is_some() {
                let asked = lock(&shared.server_requests).remove(&id_key(id));
                if asked.as_deref() == Some("roots/list") {
                    if let Some(result) = m.get("result") {
                        *lock(&shared.roots) = filesystem::roots_from_list(result);
                    }
                }
                return Route::Forward(m);
            }
        }
        return match id {
            Some(id) => Route::Answer(error_response(&id, -32600, "invalid request")),
            None => Route::Drop,
        };
    };
    if m.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return match id {
            Some(id) => Route::Answer(error_response(
                &id,
                -32600,
                "invalid request: jsonrpc must be \"2.0\"",
            )),
            None => Route::Drop,
        };
    }
    if method.starts_with("notifications/") {
        return Route::Forward(m);
    }
    let Some(id) = id else {
        // A request without an id is a notification; unknown ones are not forwarded.
        return Route::Drop;
    };
    let task_id = m
        .pointer("/params/taskId")
        .and_then(Value::as_str)
        .map(str::to_string);
    match method.as_str() {
        "initialize" => remember(shared, &id, Pending::Initialize),
        "tools/list" => remember(shared, &id, Pending::ToolsList),
        "resources/list" => remember(shared, &id, Pending::ResourceList),
        "tasks/list" => remember(shared, &id, Pending::TaskList),
        "tasks/get" | "tasks/result" | "tasks/cancel" => {
            let plan = task_id.and_then(|t| lock(&shared.tasks).get(&t).cloned());
            match plan {
                Some(plan) if method == "tasks/result" => {
                    remember(shared, &id, Pending::TaskResult(plan))
                }
                Some(_) => {}
                None => return Route::Answer(error_response(
                    &id,
                    -32602,
                    "unknown task: behalf relays task methods only for tasks of calls it allowed",
                )),
            }
        }
        known if PASSTHROUGH.contains(&known) => {}
        other => {
            return Route::Answer(error_response(
                &id,
                -32601,
                &format!("method `{other}` is not forwarded by the behalf proxy"),
            ))
        }
    }
    Route::Forward(m)
}

// --- decisions -------------------------------------------------------------------------------

fn decision_worker(shared: &Shared, mut decider: Decisions, inbox: Receiver<Value>) {
    for job in inbox {
        match job {
            Value::Array(items) => {
                let routes = items
                    .into_iter()
                    .map(|m| {
                        if is_gated(&m) {
                            gate(shared, &mut decider, m)
                        } else {
                            route_now(shared, m)
                        }
                    })
                    .collect();
                deliver_batch(shared, routes);
            }
            m => {
                let route = gate(shared, &mut decider, m);
                deliver(shared, route);
            }
        }
    }
}

/// A refusal in the shape the method answers with: a tool result for tools/call (so the
/// model reads it), a JSON-RPC error for everything else.
fn refusal(id: &Value, method: &str, text: String, packet: Option<&Value>) -> Route {
    if method == "tools/call" {
        return Route::Answer(tool_error(id, text, packet));
    }
    let mut e = error_response(id, DENIED_CODE, &text);
    if let (Some(p), Some(err)) = (packet, e.get_mut("error").and_then(Value::as_object_mut)) {
        err.insert("data".into(), json!({"behalf/decision": p}));
    }
    Route::Answer(e)
}

/// Asks the server for its tools (every page) on the proxy's own request ids.
fn refresh_catalog(shared: &Shared) {
    let mut cursor: Option<Value> = None;
    let mut fresh = Catalog::new();
    for _ in 0..100 {
        let n = shared.counter.fetch_add(1, Ordering::Relaxed);
        let id = json!(format!("behalf-proxy-{}-{n}", std::process::id()));
        let (tx, rx) = mpsc::channel();
        lock(&shared.private).insert(id_key(&id), tx);
        let params = match &cursor {
            Some(c) => json!({"cursor": c}),
            None => json!({}),
        };
        if !shared
            .to_server
            .send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": params}))
        {
            return;
        }
        let Ok(answer) = rx.recv_timeout(LIST_TIMEOUT) else {
            lock(&shared.private).remove(&id_key(&id));
            return;
        };
        let Some(result) = answer.get("result") else {
            return;
        };
        fresh.add_page(result);
        cursor = result.get("nextCursor").filter(|c| !c.is_null()).cloned();
        if cursor.is_none() {
            break;
        }
    }
    let mut catalog = lock(&shared.catalog);
    catalog.tools.extend(fresh.tools);
    catalog.stale = false;
}

fn gate(shared: &Shared, decider: &mut Decisions, m: Value) -> Route {
    let id = m.get("id").cloned().unwrap_or(Value::Null);
    let method = m
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let params = m.get("params").cloned().unwrap_or(Value::Null);
    let roots = lock(&shared.roots).clone();
    let what = match method.as_str() {
        "tools/call" => params
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string(),
        other => other.to_string(),
    };
    let plan = if method == "tools/call" {
        let name = params.get("name").and_then(Value::as_str).unwrap_or("");
        let needs_list = {
            let c = lock(&shared.catalog);
            c.stale && !c.tools.contains_key(name)
        };
        if needs_list {
            refresh_catalog(shared);
        }
        let catalog = lock(&shared.catalog);
        shared.ctx.plan_tool_call(&catalog, &roots, &params)
    } else {
        shared.ctx.plan_method(&method, &roots, &params)
    };
    let plan = match plan {
        Ok(p) => p,
        Err(why) => {
            eprintln!("behalf: denied {what}: {why}");
            return refusal(&id, &method, refusal_without_packet(&why), None);
        }
    };
    if plan.items.iter().any(|i| i.protected.is_some()) {
        let local = shared.project.as_ref().map(Project::load);
        let (Some(Ok(loaded)), Ok(now)) = (local, project::now()) else {
            return refusal(
                &id,
                &method,
                refusal_without_packet("behalf could not load its policy"),
                None,
            );
        };
        for item in &plan.items {
            if let Some(name) = &item.protected {
                if !explicitly_allowed(&loaded, &item.request, name, now) {
                    eprintln!("behalf: denied {what}: names behalf's own `{name}`");
                    return refusal(
                        &id,
                        &method,
                        refusal_without_packet(&format!(
                            "the call names `{name}`, behalf's own policy or state; an agent reads \
                             or edits it only when a permission names it explicitly"
                        )),
                        None,
                    );
                }
            }
        }
    }
    let requests: Vec<Value> = plan.items.iter().map(|i| i.request.clone()).collect();
    let packets = match decider.decide_all(&requests) {
        Ok(packets) => packets,
        Err(e) => {
            eprintln!("behalf: denied {what}: {e}");
            return refusal(
                &id,
                &method,
                format!("DENIED — behalf could not verify or record this call, so it was not executed: {e}"),
                None,
            );
        }
    };
    let kind = |p: &Value| {
        p.get("decision")
            .and_then(Value::as_str)
            .unwrap_or("denied")
            .to_string()
    };
    for p in &packets {
        eprintln!(
            "behalf: {} {what} ({}) {}",
            kind(p),
            p.get("reason").and_then(Value::as_str).unwrap_or("-"),
            p.get("requestId").and_then(Value::as_str).unwrap_or("-")
        );
    }
    let refused = packets.iter().find(|p| kind(p) == "denied").or_else(|| {
        packets
            .iter()
            .find(|p| kind(p) != "allowed" || p.get("allowed") != Some(&Value::Bool(true)))
    });
    if let Some(p) = refused {
        return refusal(&id, &method, refusal_text(p, decider.server()), Some(p));
    }
    match method.as_str() {
        "tools/call" => remember(shared, &id, Pending::ToolCall(plan)),
        "prompts/get" => remember(shared, &id, Pending::Prompt),
        "resources/read" => remember(shared, &id, Pending::ResourceRead),
        _ => {}
    }
    Route::Forward(m)
}

// --- server → client -------------------------------------------------------------------------

fn server_reader(shared: &Shared, out: std::process::ChildStdout) {
    let mut input = BufReader::new(out);
    let mut frame = Vec::new();
    while read_frame(&mut input, &mut frame).is_some() {
        let parsed = match parse_strict(&frame) {
            Ok(v) => v,
            // Not JSON (or not even UTF-8): the client's to judge; the session goes on.
            Err(FrameError::NotJson) => {
                shared.to_client.send_bytes(&frame);
                continue;
            }
            // A repeated key could hide a filtered entry from a first-wins client: withheld.
            Err(FrameError::DuplicateKey(path)) => {
                if let Some(id) = parse_lossy(&frame).and_then(|v| v.get("id").cloned()) {
                    shared.to_client.send(&error_response(
                        &id,
                        -32603,
                        &format!(
                            "the server's message repeats the key at `{path}`; behalf withheld it"
                        ),
                    ));
                }
                continue;
            }
        };
        let (value, changed) = match parsed {
            Value::Array(items) => {
                let mut changed = false;
                let mut kept = Vec::new();
                for item in items {
                    let (v, c) = from_server(shared, item);
                    changed |= c;
                    kept.extend(v);
                }
                if kept.is_empty() {
                    continue;
                }
                (Value::Array(kept), changed)
            }
            item => match from_server(shared, item) {
                (Some(v), c) => (v, c),
                (None, _) => continue,
            },
        };
        if changed {
            shared.to_client.send(&value);
        } else {
            shared.to_client.send_bytes(&frame);
        }
    }
}

/// One message from the server: (what the client gets, whether it was changed).
fn from_server(shared: &Shared, mut m: Value) -> (Option<Value>, bool) {
    if let Some(method) = m.get("method").and_then(Value::as_str) {
        if method == "notifications/tools/list_changed" {
            lock(&shared.catalog).stale = true;
        }
        if let Some(id) = m.get("id") {
            lock(&shared.server_requests).insert(id_key(id), method.to_string());
        }
        return (Some(m), false);
    }
    let Some(key) = m.get("id").map(id_key) else {
        return (Some(m), false);
    };
    if let Some(waiter) = lock(&shared.private).remove(&key) {
        let _ = waiter.send(m);
        return (None, false);
    }
    let Some(pending) = lock(&shared.pending).remove(&key) else {
        return (Some(m), false);
    };
    let roots = lock(&shared.roots).clone();
    let Some(result) = m.get_mut("result") else {
        return (Some(m), false);
    };
    match pending {
        Pending::Initialize => {
            *lock(&shared.protocol) = result
                .get("protocolVersion")
                .and_then(Value::as_str)
                .map(str::to_string);
            return (Some(m), false);
        }
        Pending::ToolsList => {
            {
                let mut catalog = lock(&shared.catalog);
                catalog.add_page(result);
                catalog.stale = false;
            }
            if !shared.hide_blocked {
                return (Some(m), false);
            }
        }
        Pending::ToolCall(ref plan) => {
            if let Some(task) = result.pointer("/task/taskId").and_then(Value::as_str) {
                lock(&shared.tasks).insert(task.to_string(), plan.clone());
                return (Some(m), false);
            }
        }
        Pending::TaskList => {
            let tasks = lock(&shared.tasks);
            if let Some(list) = result.get_mut("tasks").and_then(Value::as_array_mut) {
                list.retain(|t| {
                    t.get("taskId")
                        .and_then(Value::as_str)
                        .is_some_and(|id| tasks.contains_key(id))
                });
            }
            return (Some(m), true);
        }
        _ => {}
    }
    let Some(project) = &shared.project else {
        // With --url there is no local policy to filter answers by; the calls themselves were
        // all decided by the server (docs/server.md says what this leaves out).
        return (Some(m), true);
    };
    let Some(checker) = Checker::new(&shared.ctx, project) else {
        // Without the policy nothing can be checked, so nothing is shown.
        let id = m.get("id").cloned().unwrap_or(Value::Null);
        return (
            Some(error_response(
                &id,
                -32603,
                "behalf could not load its policy to check this answer; it was withheld",
            )),
            true,
        );
    };
    match pending {
        Pending::ToolsList => {
            if let Some(tools) = result.get_mut("tools").and_then(Value::as_array_mut) {
                tools.retain(|t| {
                    let name = t.get("name").and_then(Value::as_str).unwrap_or("");
                    let action = shared
                        .ctx
                        .profile
                        .tools
                        .get(name)
                        .and_then(|r| r.action.clone())
                        .unwrap_or_else(|| name.to_string());
                    !checker.tool_blocked(&action)
                });
            }
        }
        Pending::ToolCall(plan) | Pending::TaskResult(plan) => {
            outputs::filter_tool_result(result, &plan, &checker, &roots)
        }
        Pending::Prompt => outputs::filter_prompt(result, &checker, &roots),
        Pending::ResourceRead => outputs::filter_contents(result, &checker, &roots),
        Pending::ResourceList => outputs::filter_resource_list(result, &checker, &roots),
        Pending::Initialize | Pending::TaskList => {}
    }
    (Some(m), true)
}
