//! The rules of `worker.nodePools[].gpu.nvidia`: which EC2 instance types carry NVIDIA GPUs
//! that Flatcar's prebuilt drivers can run, with which kernel modules, and which driver series
//! exist (docs/gpu.md has the sources).

use super::Ctx;
use crate::cluster::NvidiaGpu;
use crate::model::NvidiaGpuConfig;
use crate::yaml::Path;

/// The driver series Flatcar builds as official extensions (`nvidia-drivers-<series>[-open]`,
/// x86-64 only; flatcar/scripts build_library/extra_sysexts.sh).
pub const NVIDIA_DRIVER_SERIES: [&str; 3] = ["535", "550", "570"];

/// What kubeline knows of an instance type's GPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gpus {
    /// No GPU (or a family kubeline does not list).
    None,
    /// NVIDIA GPUs that Flatcar's drivers run.
    Nvidia {
        /// The GPU.
        gpu: &'static str,
        /// NVIDIA's open kernel modules support it (Turing and newer).
        open: bool,
        /// Its value of cluster-autoscaler's AWS GPU label, `k8s.amazonaws.com/accelerator`.
        accelerator: &'static str,
    },
    /// NVIDIA GPUs kubeline cannot set up.
    Unsupported {
        /// The GPU.
        gpu: &'static str,
        /// Why not.
        why: &'static str,
    },
    /// Another vendor's GPU.
    OtherVendor {
        /// The GPU.
        gpu: &'static str,
    },
}

/// The families a GPU pool may use, for hints.
const SUPPORTED: &str = "g4dn, g5, g6, g6e or gr6 (open kernel modules), or p3 or g3 (proprietary)";

/// The GPUs of `instance_type` (EC2's accelerated computing specifications).
pub fn gpus(instance_type: &str) -> Gpus {
    let family = instance_type.split('.').next().unwrap_or_default();
    let nvidia = |gpu, open, accelerator| Gpus::Nvidia {
        gpu,
        open,
        accelerator,
    };
    match family {
        "g3" | "g3s" => nvidia("NVIDIA Tesla M60 (Maxwell)", false, "nvidia-tesla-m60"),
        "p3" | "p3dn" => nvidia("NVIDIA Tesla V100 (Volta)", false, "nvidia-tesla-v100"),
        "g4dn" => nvidia("NVIDIA T4 (Turing)", true, "nvidia-tesla-t4"),
        "g5" => nvidia("NVIDIA A10G (Ampere)", true, "nvidia-a10g"),
        "g6" | "gr6" => nvidia("NVIDIA L4 (Ada Lovelace)", true, "nvidia-l4"),
        "g6e" => nvidia("NVIDIA L40S (Ada Lovelace)", true, "nvidia-l40s"),
        "p2" => Gpus::Unsupported {
            gpu: "NVIDIA K80 (Kepler)",
            why: "NVIDIA's drivers for Kepler GPUs ended with the 470 series, and Flatcar ships 535 and newer",
        },
        "g5g" => Gpus::Unsupported {
            gpu: "an NVIDIA T4G on Graviton (arm64)",
            why: "Flatcar's NVIDIA driver extensions are built for amd64 only",
        },
        "p4d" | "p4de" | "p5" | "p5e" | "p5en" | "p6-b200" | "p6-b300" | "p6e-gb200" => {
            Gpus::Unsupported {
                gpu: "eight NVIDIA GPUs joined by NVSwitch",
                why: "NVSwitch systems need NVIDIA Fabric Manager before CUDA starts, and Flatcar's driver extensions do not include it",
            }
        }
        "g6f" | "gr6f" => Gpus::Unsupported {
            gpu: "a fraction of an NVIDIA L4",
            why: "fractional GPUs need NVIDIA's GRID (vGPU) driver, which Flatcar does not ship",
        },
        "g4ad" => Gpus::OtherVendor {
            gpu: "AMD Radeon Pro V520",
        },
        _ => Gpus::None,
    }
}

impl Ctx<'_> {
    /// `gpu.nvidia` of the pool at `p`, whose instance types are `types` (each with its path).
    pub(super) fn nvidia_gpu(
        &mut self,
        p: &Path,
        cfg: &NvidiaGpuConfig,
        types: &[(Path, &str)],
    ) -> Option<NvidiaGpu> {
        let gp = p.key("gpu").key("nvidia");
        if !cfg.enabled {
            for (path, t) in types {
                if let Gpus::Nvidia { gpu, .. } = gpus(t) {
                    self.warn(
                        path.clone(),
                        format!("{t} carries an {gpu}, but gpu.nvidia.enabled is false: its nodes boot without a driver and Kubernetes sees no GPU"),
                        "set gpu.nvidia.enabled: true for the driver, the NVIDIA Container Toolkit and the device plugin (docs/gpu.md)",
                    );
                }
            }
            return None;
        }
        let mut ok = true;
        let v = cfg.version.as_str();
        if !NVIDIA_DRIVER_SERIES.contains(&v) {
            ok = false;
            let release = v.split_once('.').is_some_and(|(a, b)| {
                !a.is_empty()
                    && a.chars()
                        .chain(b.chars())
                        .all(|c| c.is_ascii_digit() || c == '.')
            });
            let message = if release {
                format!(
                    "{v} is a driver release; Flatcar ships prebuilt driver series, each at the release built for the node's Flatcar version"
                )
            } else {
                format!("{v:?} is not an NVIDIA driver series Flatcar ships")
            };
            self.err(
                gp.key("version"),
                message,
                format!(
                    "write a series: {} (default 570)",
                    NVIDIA_DRIVER_SERIES.join(", ")
                ),
            );
        }
        // The pool's NVIDIA types (path, type, open modules, autoscaler label); every other
        // type is refused with its reason.
        let mut nvidia = Vec::new();
        for (path, t) in types {
            let (refusal, remove) = match gpus(t) {
                Gpus::Nvidia {
                    open, accelerator, ..
                } => {
                    nvidia.push((path, *t, open, accelerator));
                    continue;
                }
                Gpus::Unsupported { gpu, why } => (format!("{t} carries {gpu}: {why}"), ""),
                Gpus::OtherVendor { gpu } => {
                    (format!("{t} carries an {gpu}, not an NVIDIA GPU"), "")
                }
                Gpus::None => (
                    format!(
                        "kubeline knows no NVIDIA GPU in the {} family, and gpu.nvidia.enabled needs one",
                        t.split('.').next().unwrap_or_default()
                    ),
                    ", or remove gpu.nvidia",
                ),
            };
            ok = false;
            self.err(path.clone(), refusal, format!("use {SUPPORTED}{remove}"));
        }
        let (_, first, open_kernel_modules, _) = *nvidia.first()?;
        for (path, t, open, _) in &nvidia {
            if *open != open_kernel_modules {
                ok = false;
                let (new, old) = if *open { (*t, first) } else { (first, *t) };
                self.err(
                    (*path).clone(),
                    format!("{old} needs NVIDIA's proprietary kernel modules and {new} the open ones, but a pool's nodes share one node config"),
                    "put p3 and g3 types in a pool of their own",
                );
            }
        }
        let accelerators: std::collections::BTreeSet<&str> =
            nvidia.iter().map(|(_, _, _, a)| *a).collect();
        ok.then(|| NvidiaGpu {
            series: v.to_owned(),
            open_kernel_modules,
            drivers_sysext: format!(
                "nvidia-drivers-{v}{}",
                if open_kernel_modules { "-open" } else { "" }
            ),
            // One label value per pool: only when every type carries the same GPU.
            accelerator: (accelerators.len() == 1)
                .then(|| accelerators.first().map(|a| (*a).to_owned()))
                .flatten(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_map_to_their_gpus() {
        for (t, want) in [
            ("g4dn.xlarge", Some(true)),
            ("g5.12xlarge", Some(true)),
            ("g6.xlarge", Some(true)),
            ("gr6.4xlarge", Some(true)),
            ("g6e.2xlarge", Some(true)),
            ("p3.2xlarge", Some(false)),
            ("p3dn.24xlarge", Some(false)),
            ("g3s.xlarge", Some(false)),
            ("m7i.large", None),
            ("p2.xlarge", None),
            ("p5.48xlarge", None),
            ("g4ad.xlarge", None),
            ("g6f.large", None),
            ("g5g.xlarge", None),
        ] {
            let got = match gpus(t) {
                Gpus::Nvidia { open, .. } => Some(open),
                _ => None,
            };
            assert_eq!(got, want, "{t}");
        }
        assert!(matches!(gpus("p4d.24xlarge"), Gpus::Unsupported { .. }));
        assert!(matches!(gpus("g4ad.xlarge"), Gpus::OtherVendor { .. }));
        assert_eq!(gpus("c7i.large"), Gpus::None);
    }
}
