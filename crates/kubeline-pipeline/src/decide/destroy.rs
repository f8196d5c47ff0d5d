//! The destroy reconciler's decision: delete stacks one at a time in deletion order (the
//! reverse of apply order, so nothing is deleted while a stack imports from it).

use kubeline_core::pipeline::cfn::StackStatus;

/// What the destroy does now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Start deleting this stack.
    Delete(String),
    /// This stack is busy (deleting, or another operation): call again after a wait.
    Wait(String),
    /// This stack failed to delete.
    Failed(String),
    /// Every stack is gone.
    Done,
}

/// The decision for `stacks` (name and status, `None` when it does not exist), in deletion
/// order.
pub fn decide(stacks: &[(&str, Option<StackStatus>)]) -> Decision {
    for (name, status) in stacks {
        match status {
            None | Some(StackStatus::DeleteComplete) => continue,
            Some(StackStatus::DeleteFailed) => return Decision::Failed((*name).to_owned()),
            Some(s) if s.in_progress() => return Decision::Wait((*name).to_owned()),
            Some(_) => return Decision::Delete((*name).to_owned()),
        }
    }
    Decision::Done
}

#[cfg(test)]
mod tests {
    use super::*;
    use StackStatus as S;

    #[test]
    fn stacks_go_one_at_a_time_in_order() {
        type Stacks<'a> = Vec<(&'a str, Option<S>)>;
        let table: Vec<(Stacks<'_>, Decision)> = vec![
            (vec![], Decision::Done),
            (
                vec![("a", None), ("b", Some(S::DeleteComplete))],
                Decision::Done,
            ),
            (
                vec![
                    ("a", Some(S::CreateComplete)),
                    ("b", Some(S::CreateComplete)),
                ],
                Decision::Delete("a".into()),
            ),
            (
                vec![
                    ("a", Some(S::DeleteInProgress)),
                    ("b", Some(S::CreateComplete)),
                ],
                Decision::Wait("a".into()),
            ),
            (
                vec![("a", Some(S::UpdateInProgress))],
                Decision::Wait("a".into()),
            ),
            (
                vec![("a", None), ("b", Some(S::DeleteFailed))],
                Decision::Failed("b".into()),
            ),
            (
                vec![("a", Some(S::ReviewInProgress))],
                Decision::Delete("a".into()),
            ),
            (
                vec![("a", Some(S::RollbackComplete))],
                Decision::Delete("a".into()),
            ),
        ];
        for (stacks, want) in table {
            assert_eq!(decide(&stacks), want, "{stacks:?}");
        }
    }
}
