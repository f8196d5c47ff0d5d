//! Rules shared by the node groups (controllers, etcd, node pools): EC2 instance types, EBS
//! volumes and Auto Scaling group sizes.

use super::Ctx;
use crate::cluster::{GroupSize, Volume};
use crate::model::{AutoScalingGroupConfig, VolumeConfig, VolumeType};
use crate::yaml::Path;

impl Ctx<'_> {
    pub(super) fn instance_type(&mut self, path: Path, t: &str) {
        let valid = t.split_once('.').is_some_and(|(fam, size)| {
            !fam.is_empty()
                && fam.starts_with(|c: char| c.is_ascii_lowercase())
                && fam
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !size.is_empty()
                && size
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
        if !valid {
            self.err(
                path,
                format!("{t:?} is not an EC2 instance type"),
                "use a type such as m7i.large",
            );
            return;
        }
        let fam = t.split('.').next().unwrap_or_default();
        // Graviton families carry a `g` right after the generation digit (m7g, c6gn, t4g, r8gd).
        let graviton = fam
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit())
            .is_some_and(|(i, _)| fam[i + 1..].starts_with('g'));
        if graviton {
            self.err(
                path,
                format!("{t} is an arm64 (Graviton) type; kubeline renders x86_64 nodes"),
                "use an x86_64 type such as m7i.large",
            );
        }
    }

    pub(super) fn volume(
        &mut self,
        path: Path,
        v: &VolumeConfig,
        root_volume: bool,
    ) -> Option<Volume> {
        self.volume_rules(path, v.size, v.kind, v.iops, root_volume)
            .then_some(Volume {
                size: v.size,
                kind: v.kind,
                iops: v.iops,
            })
    }

    pub(super) fn volume_rules(
        &mut self,
        path: Path,
        size: u32,
        kind: VolumeType,
        iops: Option<u32>,
        root_volume: bool,
    ) -> bool {
        let before = self.diags.len();
        let (min, max) = match kind {
            VolumeType::Gp3 | VolumeType::Gp2 => (1, 16384),
            VolumeType::Io1 => (4, 16384),
            VolumeType::Io2 => (4, 65536),
            VolumeType::St1 | VolumeType::Sc1 => (125, 16384),
            VolumeType::Standard => (1, 1024),
        };
        let tname = serde_json::to_value(kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        if root_volume && matches!(kind, VolumeType::St1 | VolumeType::Sc1) {
            self.err(
                path.key("type"),
                format!("{tname} volumes cannot be boot volumes"),
                "use gp3",
            );
        }
        if root_volume && size < 8 {
            self.err(
                path.key("size"),
                format!("{size} GiB is too small for Flatcar"),
                "use at least 8 GiB (30 recommended)",
            );
        } else if !(min..=max).contains(&size) {
            self.err(
                path.key("size"),
                format!("{tname} volumes are {min}-{max} GiB, not {size}"),
                format!("use a size in {min}..={max}"),
            );
        }
        match (kind, iops) {
            (VolumeType::Gp3, Some(i)) => {
                if !(3000..=80000).contains(&i) {
                    self.err(
                        path.key("iops"),
                        format!("gp3 IOPS are 3000-80000, not {i}"),
                        "use 3000 (the baseline) or more",
                    );
                } else if u64::from(i) > 500 * u64::from(size) {
                    self.err(
                        path.key("iops"),
                        format!(
                            "gp3 allows 500 IOPS per GiB: {i} needs at least {} GiB",
                            i.div_ceil(500)
                        ),
                        "raise size or lower iops",
                    );
                }
            }
            (VolumeType::Io1 | VolumeType::Io2, None) => {
                self.err(
                    path.key("iops"),
                    format!("{tname} volumes need iops"),
                    "set iops, e.g. 3000",
                );
            }
            (VolumeType::Io1 | VolumeType::Io2, Some(i)) => {
                let per_gib = if kind == VolumeType::Io1 { 50 } else { 1000 };
                if !(100..=256_000).contains(&i) {
                    self.err(
                        path.key("iops"),
                        format!("{tname} IOPS are 100-256000, not {i}"),
                        "use a value in range",
                    );
                } else if u64::from(i) > per_gib * u64::from(size) {
                    self.err(
                        path.key("iops"),
                        format!(
                            "{tname} allows {per_gib} IOPS per GiB: {i} needs at least {} GiB",
                            u64::from(i).div_ceil(per_gib)
                        ),
                        "raise size or lower iops",
                    );
                }
            }
            (_, Some(_)) => {
                self.err(
                    path.key("iops"),
                    format!("{tname} volumes take no iops setting"),
                    "remove iops or use gp3/io1/io2",
                );
            }
            (_, None) => {}
        }
        self.diags.len() == before
    }

    /// Sizes of an Auto Scaling group.
    ///
    /// kube-aws's rule: `autoScalingGroup.minSize`/`maxSize` are used in place of `count`, and
    /// the desired size is then `minSize`. Without them `count` (or `default_count`) is the
    /// size; with both, `count` must lie between them. A `maxSize` of 0 is an error unless
    /// `may_be_empty` (node pools kept at zero on purpose), where it is a warning.
    pub(super) fn group(
        &mut self,
        path: Path,
        count: Option<u32>,
        default_count: u32,
        asg: &AutoScalingGroupConfig,
        may_be_empty: bool,
    ) -> Option<GroupSize> {
        let ap = path.key("autoScalingGroup");
        let count_path = path.key("count");
        let (desired, min, max) = match count {
            Some(n) => {
                let min = asg.min_size.unwrap_or(n);
                (n, min, asg.max_size.unwrap_or(n.max(min)))
            }
            None => {
                let min = asg.min_size.unwrap_or_else(|| {
                    asg.max_size.map_or(default_count, |m| m.min(default_count))
                });
                (min, min, asg.max_size.unwrap_or(default_count.max(min)))
            }
        };
        let mut ok = true;
        if min > max {
            self.err(
                ap.key("minSize"),
                format!("minSize {min} is more than maxSize {max}"),
                "make minSize <= maxSize",
            );
            ok = false;
        } else if desired < min || desired > max {
            self.err(
                count_path.clone(),
                format!("count {desired} is outside minSize {min} .. maxSize {max}"),
                "make minSize <= count <= maxSize",
            );
            ok = false;
        }
        if max == 0 {
            let at = if asg.max_size.is_some() {
                ap.key("maxSize")
            } else {
                count_path
            };
            if may_be_empty {
                self.warn(
                    at,
                    "a group of at most 0 instances runs nothing: this pool stays empty",
                    "raise maxSize (and minSize) when the pool should run nodes",
                );
            } else {
                self.err(
                    at,
                    "a group of at most 0 instances runs nothing",
                    "use a maxSize of 1 or more",
                );
                ok = false;
            }
        }
        if max > super::limits::MAX_GROUP_SIZE {
            let at = if asg.max_size.is_some() {
                ap.key("maxSize")
            } else {
                path.key("count")
            };
            self.err(
                at,
                format!(
                    "a group of up to {max} instances; kubeline allows {} per group (docs/quotas.md)",
                    super::limits::MAX_GROUP_SIZE
                ),
                "split the nodes over several pools, or lower the size",
            );
            ok = false;
        }
        let min_in_service = asg
            .rolling_update_min_instances_in_service
            .unwrap_or(desired.saturating_sub(1));
        if ok && min_in_service > 0 && min_in_service >= max {
            self.err(ap.key("rollingUpdateMinInstancesInService"), format!("{min_in_service} instances in service leaves no room to replace one (maxSize {max})"), format!("use at most {}", max.saturating_sub(1)));
            ok = false;
        }
        ok.then_some(GroupSize {
            desired,
            min,
            max,
            min_in_service,
        })
    }
}
