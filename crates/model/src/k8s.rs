//! Kubernetes names of flow ends.

use serde::Serialize;

/// What an address belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct K8sRef {
    /// `pod`, `service` or `node`.
    pub kind: &'static str,
    /// Namespace (null for nodes).
    pub namespace: Option<String>,
    /// Pod, service or node name.
    pub name: String,
    /// The pod's controller: a Deployment's name for ReplicaSet-owned pods
    /// (template hash removed), else the owner's name (StatefulSet, DaemonSet, Job…).
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
