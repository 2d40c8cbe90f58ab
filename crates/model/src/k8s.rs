//! Kubernetes names of flow ends.

use serde::Serialize;

/// The Kubernetes object an address belongs to, from `--k8s` files
/// (`kubectl get pods,services,nodes -A -o json`) or, failing those, from
/// Hubble flows in the same run. A running pod wins over a finished one that
/// had the same address; host-network pods leave the address to their node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct K8sRef {
    /// `pod`, `service` or `node`.
    pub kind: &'static str,
    /// Namespace (null for nodes).
    pub namespace: Option<String>,
    /// Pod, service or node name.
    pub name: String,
    /// The pod's controller: a ReplicaSet named
    /// `<deployment>-<pod-template-hash>` is reported as its Deployment,
    /// else the owner's name (StatefulSet, DaemonSet, Job…).
    pub workload: Option<String>,
    /// Kind of `workload`: `Deployment`, `StatefulSet`, `DaemonSet`, `Job`, `ReplicaSet`…
    pub workload_kind: Option<String>,
    /// Node the pod runs on.
    pub node: Option<String>,
}

impl K8sRef {
    /// `namespace/name`, or the name alone for nodes.
    pub fn label(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }
}
