//! A small IAM policy evaluator for tests: explicit deny wins, then any allow, else implicit
//! deny (AWS's documented evaluation logic for one policy set, without SCPs, boundaries or
//! sessions). It knows the parts kubeline's policies use: `Action`/`NotAction` with `*` and `?`
//! wildcards (case-insensitive), `Resource` with wildcards (case-sensitive), `Fn::Sub` of the
//! pseudo parameters, `Fn::GetAtt` of named attributes (`refs["X.Arn"]`), `Principal` (`*` or a service), and the condition operators `StringEquals`,
//! `ArnEquals`, `StringNotEquals`, `StringLike`, `StringNotLike`, `Bool` and
//! `ForAnyValue:StringLike` (a multi-valued key as comma-separated values), each with AND across keys and
//! OR across values. Any other operator makes the evaluator panic, so a policy it cannot
//! judge fails the test rather than passing it.
//!
//! Source: docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
//! and reference_policies_elements_condition_operators.html.

use std::collections::BTreeMap;

use serde_json::Value;

/// One request: who asks, for what, on what, with which condition keys.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `service:Action`.
    pub action: String,
    /// The resource ARN.
    pub resource: String,
    /// Condition keys present in the request (e.g. `kms:EncryptionContext:cluster`).
    pub context: BTreeMap<String, String>,
}

impl Request {
    /// A request without condition keys.
    pub fn new(action: &str, resource: &str) -> Request {
        Request {
            action: action.to_owned(),
            resource: resource.to_owned(),
            context: BTreeMap::new(),
        }
    }
    /// The same request with one more condition key.
    pub fn with(mut self, key: &str, value: &str) -> Request {
        self.context.insert(key.to_owned(), value.to_owned());
        self
    }
}

/// The outcome of evaluating a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An Allow statement matched and no Deny did.
    Allow,
    /// No statement matched.
    ImplicitDeny,
    /// A Deny statement matched.
    ExplicitDeny,
}

/// Pseudo parameters used to resolve `Fn::Sub` and `Ref`.
#[derive(Debug, Clone)]
pub struct Pseudo {
    /// `AWS::Partition`.
    pub partition: String,
    /// `AWS::Region`.
    pub region: String,
    /// `AWS::AccountId`.
    pub account: String,
    /// Other names `${X}` may refer to (for example a bucket's `Ref`).
    pub refs: BTreeMap<String, String>,
}

impl Default for Pseudo {
    fn default() -> Self {
        Pseudo {
            partition: "aws".into(),
            region: "eu-west-1".into(),
            account: "123456789012".into(),
            refs: BTreeMap::new(),
        }
    }
}

impl Pseudo {
    /// The names of a deployed installation (`infra/template.yaml`, stack `kubeline`): its
    /// bucket `kubeline-prod`, name prefix, KMS key, chat topic and dead-letter queue.
    pub fn installation() -> Pseudo {
        let mut p = Pseudo::default();
        for (k, v) in [
            ("Bucket", "kubeline-prod"),
            ("NamePrefix", "kubeline"),
            ("AWS::StackName", "kubeline"),
            (
                "DeadLetterQueue.Arn",
                "arn:aws:sqs:eu-west-1:123456789012:dlq",
            ),
            (
                "Key.Arn",
                "arn:aws:kms:eu-west-1:123456789012:key/installation",
            ),
            ("Topic", "arn:aws:sns:eu-west-1:123456789012:kubeline-chat"),
        ] {
            p.refs.insert(k.into(), v.into());
        }
        p
    }

    /// A string value: a literal, an `Fn::Sub` of known names or a `Ref`.
    fn resolve(&self, v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Object(m) if m.contains_key("Fn::Sub") => {
                let mut s = m["Fn::Sub"]
                    .as_str()
                    .expect("Fn::Sub with a string")
                    .to_owned();
                s = s
                    .replace("${AWS::Partition}", &self.partition)
                    .replace("${AWS::Region}", &self.region)
                    .replace("${AWS::AccountId}", &self.account)
                    .replace("${AWS::URLSuffix}", "amazonaws.com");
                for (k, val) in &self.refs {
                    s = s.replace(&format!("${{{k}}}"), val);
                }
                assert!(!s.contains("${"), "unresolved name in {s}");
                s
            }
            // `X.Y` among the refs, else a name no request carries (an ARN of this stack's
            // own resource that the test did not name).
            Value::Object(m) if m.contains_key("Fn::GetAtt") => {
                let parts: Vec<&str> = m["Fn::GetAtt"]
                    .as_array()
                    .expect("Fn::GetAtt with a list")
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                let name = parts.join(".");
                self.refs
                    .get(&name)
                    .cloned()
                    .unwrap_or_else(|| format!("unresolved:{name}"))
            }
            Value::Object(m) if m.contains_key("Ref") => {
                let name = m["Ref"].as_str().expect("Ref with a string");
                self.refs
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| panic!("unknown Ref {name}"))
            }
            other => panic!("cannot resolve {other}"),
        }
    }
    fn list(&self, v: Option<&Value>) -> Vec<String> {
        match v {
            None => vec![],
            Some(Value::Array(a)) => a.iter().map(|x| self.resolve(x)).collect(),
            Some(one) => vec![self.resolve(one)],
        }
    }
}

/// `*` and `?` wildcard match.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// `text` with each policy variable `${key}` replaced by the request's value of `key`; `None`
/// when the request has no such key.
fn substitute(text: &str, req: &Request) -> Option<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let end = rest[start..].find('}')? + start;
        out.push_str(&rest[..start]);
        out.push_str(req.context.get(&rest[start + 2..end])?);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

fn condition_holds(pseudo: &Pseudo, cond: Option<&Value>, req: &Request) -> bool {
    let Some(Value::Object(ops)) = cond else {
        return true;
    };
    ops.iter().all(|(op, keys)| {
        let keys = keys.as_object().expect("condition keys are an object");
        keys.iter().all(|(key, values)| {
            // Policy variables (`${aws:userid}`) take the request's value; one the request
            // lacks invalidates the statement (IAM's "Variables and tags" reference), so it
            // does not hold.
            let Some(wanted) = pseudo
                .list(Some(values))
                .into_iter()
                .map(|w| substitute(&w, req))
                .collect::<Option<Vec<String>>>()
            else {
                return false;
            };
            let present = req.context.get(key);
            match op.as_str() {
                // ARNs compare as strings here: the policies under test use exact ARNs.
                "StringEquals" | "ArnEquals" => {
                    present.is_some_and(|v| wanted.iter().any(|w| w == v))
                }
                "StringNotEquals" => present.is_none_or(|v| wanted.iter().all(|w| w != v)),
                "StringLike" => present.is_some_and(|v| wanted.iter().any(|w| glob(w, v))),
                "StringNotLike" => present.is_none_or(|v| wanted.iter().all(|w| !glob(w, v))),
                // ARN patterns match like strings for the ARNs under test (no `?`-per-segment
                // subtleties in them).
                "ArnLike" => present.is_some_and(|v| wanted.iter().any(|w| glob(w, v))),
                "ArnNotLike" => present.is_none_or(|v| wanted.iter().all(|w| !glob(w, v))),
                "Bool" => present.is_some_and(|v| wanted.iter().any(|w| w == v)),
                // A multi-valued key (aws:TagKeys) is written as comma-separated values; it
                // holds when any of them matches any pattern, and never when absent.
                "ForAnyValue:StringLike" => present
                    .is_some_and(|v| v.split(',').any(|one| wanted.iter().any(|w| glob(w, one)))),
                other => panic!("the test evaluator does not know condition operator {other}"),
            }
        })
    })
}

fn statements(policy: &Value) -> Vec<&Value> {
    match &policy["Statement"] {
        Value::Array(a) => a.iter().collect(),
        one @ Value::Object(_) => vec![one],
        other => panic!("policy without statements: {other}"),
    }
}

fn statement_matches(pseudo: &Pseudo, st: &Value, req: &Request) -> bool {
    let action_match = |list: Vec<String>| {
        list.iter()
            .any(|a| glob(&a.to_lowercase(), &req.action.to_lowercase()))
    };
    let action_ok = if st.get("NotAction").is_some() {
        !action_match(pseudo.list(st.get("NotAction")))
    } else {
        action_match(pseudo.list(st.get("Action")))
    };
    let resource_ok = if st.get("NotResource").is_some() {
        !pseudo
            .list(st.get("NotResource"))
            .iter()
            .any(|r| glob(r, &req.resource))
    } else {
        pseudo
            .list(st.get("Resource"))
            .iter()
            .any(|r| glob(r, &req.resource))
    };
    action_ok && resource_ok && condition_holds(pseudo, st.get("Condition"), req)
}

/// Evaluates `req` against identity or resource `policies` (principals are not checked; a
/// resource policy's statements are taken to name the caller, as `Principal: "*"` does).
pub fn evaluate(pseudo: &Pseudo, policies: &[&Value], req: &Request) -> Decision {
    let mut allowed = false;
    for policy in policies {
        for st in statements(policy) {
            if !statement_matches(pseudo, st, req) {
                continue;
            }
            match st["Effect"].as_str() {
                Some("Deny") => return Decision::ExplicitDeny,
                Some("Allow") => allowed = true,
                other => panic!("statement without an Effect: {other:?}"),
            }
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

/// Every policy statement of the installation template's IAM policies, with the resource
/// that holds it.
pub fn template_statements(t: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (name, r) in t["Resources"].as_object().expect("Resources") {
        let p = &r["Properties"];
        let mut docs: Vec<&Value> = Vec::new();
        for pol in p["Policies"].as_array().into_iter().flatten() {
            if pol.get("PolicyDocument").is_some() {
                docs.push(&pol["PolicyDocument"]);
            } else {
                docs.push(pol);
            }
        }
        if r["Type"] == "AWS::IAM::Policy" || r["Type"] == "AWS::IAM::ManagedPolicy" {
            docs.push(&p["PolicyDocument"]);
        }
        for d in docs {
            for s in d["Statement"].as_array().into_iter().flatten() {
                out.push((name.clone(), s.clone()));
            }
        }
    }
    out
}

/// Each statement of resource `name`'s IAM policies, as a policy of its own.
pub fn policies_of(t: &Value, name: &str) -> Vec<Value> {
    template_statements(t)
        .into_iter()
        .filter(|(n, _)| n == name)
        .map(|(_, s)| serde_json::json!({"Statement": [s]}))
        .collect()
}

/// `v` with the deploy-time functions decided: `Fn::If` by `conditions`, `Ref` of a list
/// parameter by `lists`, `Fn::Join` and `Fn::Split` evaluated (CloudFormation's meaning:
/// docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference.html).
pub fn decided(
    v: &Value,
    conditions: &BTreeMap<&str, bool>,
    lists: &BTreeMap<&str, Vec<&str>>,
) -> Value {
    let strings = |v: &Value| -> Vec<String> {
        match decided(v, conditions, lists) {
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().expect("a string").to_owned())
                .collect(),
            Value::String(s) => vec![s],
            other => panic!("not a string list: {other}"),
        }
    };
    match v {
        Value::Object(m) if m.contains_key("Fn::If") => {
            let a = m["Fn::If"].as_array().expect("Fn::If list");
            let c = a[0].as_str().expect("condition name");
            let take = *conditions.get(c).unwrap_or_else(|| panic!("condition {c}"));
            decided(&a[if take { 1 } else { 2 }], conditions, lists)
        }
        Value::Object(m)
            if m.get("Ref")
                .and_then(Value::as_str)
                .is_some_and(|r| lists.contains_key(r)) =>
        {
            let r = m["Ref"].as_str().unwrap_or_default();
            Value::Array(
                lists[r]
                    .iter()
                    .map(|s| Value::String((*s).to_owned()))
                    .collect(),
            )
        }
        Value::Object(m) if m.contains_key("Fn::Join") => {
            let a = m["Fn::Join"].as_array().expect("Fn::Join list");
            let sep = a[0].as_str().expect("a literal delimiter");
            let parts: Vec<String> = match decided(&a[1], conditions, lists) {
                Value::Array(items) => items.iter().flat_map(&strings).collect(),
                other => panic!("Fn::Join of {other}"),
            };
            Value::String(parts.join(sep))
        }
        Value::Object(m) if m.contains_key("Fn::Split") => {
            let a = m["Fn::Split"].as_array().expect("Fn::Split list");
            let sep = a[0].as_str().expect("a literal delimiter");
            let text = strings(&a[1]).concat();
            Value::Array(
                text.split(sep)
                    .map(|s| Value::String(s.to_owned()))
                    .collect(),
            )
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), decided(x, conditions, lists)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|x| decided(x, conditions, lists)).collect()),
        other => other.clone(),
    }
}

/// The statements of the installation's CloudFormation service role (`ClusterStacksRole`),
/// one policy each, with its deploy-time choices decided as a deployment without allowed
/// hosted zones makes them.
pub fn service_role() -> Vec<Value> {
    let t = crate::installation_template();
    let conditions = BTreeMap::from([("HasHostedZones", false)]);
    policies_of(&t, "ClusterStacksRole")
        .iter()
        .map(|p| decided(p, &conditions, &BTreeMap::new()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wildcards_and_conditions() {
        assert!(glob("a*c", "abbbc"));
        assert!(glob("arn:*:s3:::b/k/*", "arn:aws:s3:::b/k/x/y"));
        assert!(!glob("arn:*:s3:::b/k/*", "arn:aws:s3:::b/j/x"));
        assert!(glob("a?c", "abc") && !glob("a?c", "abbc"));
        let p = json!({"Statement": [
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "k",
             "Condition": {"StringEquals": {"c": ["x", "y"], "d": "z"}}},
            {"Effect": "Deny", "Action": "kms:*", "Resource": "*",
             "Condition": {"StringNotEquals": {"e": "ok"}}}
        ]});
        let ps = Pseudo::default();
        let ok = Request::new("kms:Decrypt", "k")
            .with("c", "y")
            .with("d", "z")
            .with("e", "ok");
        assert_eq!(evaluate(&ps, &[&p], &ok), Decision::Allow);
        // A missing key fails StringEquals and satisfies StringNotEquals.
        let no_e = Request::new("kms:Decrypt", "k")
            .with("c", "x")
            .with("d", "z");
        assert_eq!(evaluate(&ps, &[&p], &no_e), Decision::ExplicitDeny);
        let wrong = ok.clone().with("d", "w");
        assert_eq!(evaluate(&ps, &[&p], &wrong), Decision::ImplicitDeny);
    }

    #[test]
    fn policy_variables_take_the_request_s_values() {
        let p = json!({"Statement": [
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "*",
             "Condition": {"StringNotEquals": {"s3:RequestObjectTag/who": "id-${aws:userid}"}}}
        ]});
        let ps = Pseudo::default();
        let req = |tag: Option<&str>| {
            let r = Request::new("s3:PutObject", "b/k").with("aws:userid", "AIDA1");
            match tag {
                Some(t) => r.with("s3:RequestObjectTag/who", t),
                None => r,
            }
        };
        assert_eq!(
            evaluate(&ps, &[&p], &req(Some("id-AIDA1"))),
            Decision::Allow
        );
        assert_eq!(
            evaluate(&ps, &[&p], &req(Some("id-AIDA2"))),
            Decision::ExplicitDeny
        );
        assert_eq!(evaluate(&ps, &[&p], &req(None)), Decision::ExplicitDeny);
        // Without the variable's key the statement is invalid and does not apply.
        let anonymous = Request::new("s3:PutObject", "b/k").with("s3:RequestObjectTag/who", "x");
        assert_eq!(evaluate(&ps, &[&p], &anonymous), Decision::Allow);
        assert_eq!(
            substitute("a${k}b${k}", &Request::new("x", "y").with("k", "1")).as_deref(),
            Some("a1b1")
        );
    }
}
