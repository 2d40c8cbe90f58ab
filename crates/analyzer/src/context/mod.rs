//! Kubernetes context: names for the IP addresses a capture or a flow log
//! mentions. Built from `kubectl get pods,services,nodes -A -o json` output
//! ([`K8sIndex::load_kubectl`]) and from the endpoint metadata of Hubble
//! flows ([`K8sIndex::learn`]); kubectl's answer wins where both know an IP.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

pub use crate::report::K8sRef;
use serde_json::Value;

/// Where a name for an IP came from; a better source replaces a worse one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    /// Hubble flow metadata.
    Hubble,
    /// A pod that is not running (its IP may belong to another pod now).
    KubectlStale,
    Kubectl,
}

#[derive(Debug, Default, Clone)]
pub struct K8sIndex {
    by_ip: HashMap<IpAddr, (K8sRef, Source)>,
    /// Objects read from kubectl files (pods, services, nodes).
    pub objects: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not JSON ({source}); expected the output of `kubectl get pods,services,nodes -A -o json`")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: no pods, services or nodes found; expected the output of `kubectl get pods,services,nodes -A -o json`")]
    Empty { path: String },
}

impl K8sIndex {
    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }

    pub fn len(&self) -> usize {
        self.by_ip.len()
    }

    /// The name of `ip`, when known.
    pub fn lookup(&self, ip: IpAddr) -> Option<&K8sRef> {
        self.by_ip.get(&ip).map(|(r, _)| r)
    }

    fn insert(&mut self, ip: IpAddr, r: K8sRef, src: Source) {
        match self.by_ip.get(&ip) {
            Some((_, old)) if *old > src => {}
            _ => {
                self.by_ip.insert(ip, (r, src));
            }
        }
    }

    /// Reads one kubectl JSON file (a `List`, or a single object; gzip allowed).
    pub fn load_kubectl(&mut self, path: &Path) -> Result<usize, K8sError> {
        let p = path.display().to_string();
        let bytes = crate::source::read_maybe_gzip(path).map_err(|source| K8sError::Io {
            path: p.clone(),
            source,
        })?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|source| K8sError::Json {
            path: p.clone(),
            source,
        })?;
        let n = self.add_kubectl(&v);
        if n == 0 {
            return Err(K8sError::Empty { path: p });
        }
        self.objects += n;
        Ok(n)
    }

    /// Adds the pods, services and nodes of a kubectl JSON value; returns how many.
    pub fn add_kubectl(&mut self, v: &Value) -> usize {
        if let Some(items) = v.get("items").and_then(Value::as_array) {
            return items.iter().map(|i| self.add_kubectl(i)).sum();
        }
        match v.get("kind").and_then(Value::as_str) {
            Some("Pod") => self.add_pod(v),
            Some("Service") => self.add_service(v),
            Some("Node") => self.add_node(v),
            _ => 0,
        }
    }

    fn add_pod(&mut self, v: &Value) -> usize {
        let meta = &v["metadata"];
        let Some(name) = meta["name"].as_str() else {
            return 0;
        };
        let namespace = meta["namespace"].as_str().unwrap_or("default").to_string();
        // Host-network pods share their node's address: the address is the node's.
        if v["spec"]["hostNetwork"].as_bool() == Some(true) {
            return 1;
        }
        let (workload, workload_kind) = pod_workload(meta);
        let r = K8sRef {
            kind: "pod",
            namespace: Some(namespace),
            name: name.to_string(),
            workload,
            workload_kind,
            node: v["spec"]["nodeName"].as_str().map(str::to_string),
        };
        let running = matches!(
            v["status"]["phase"].as_str(),
            Some("Running") | Some("Pending") | None
        );
        let src = if running {
            Source::Kubectl
        } else {
            Source::KubectlStale
        };
        let status = &v["status"];
        let mut ips: Vec<&str> = status["podIPs"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["ip"].as_str()).collect())
            .unwrap_or_default();
        ips.extend(status["podIP"].as_str());
        for ip in ips {
            if let Ok(ip) = ip.parse() {
                self.insert(ip, r.clone(), src);
            }
        }
        1
    }

    fn add_service(&mut self, v: &Value) -> usize {
        let meta = &v["metadata"];
        let Some(name) = meta["name"].as_str() else {
            return 0;
        };
        let r = K8sRef {
            kind: "service",
            namespace: Some(meta["namespace"].as_str().unwrap_or("default").to_string()),
            name: name.to_string(),
            workload: None,
            workload_kind: None,
            node: None,
        };
        let spec = &v["spec"];
        let mut ips: Vec<&str> = Vec::new();
        ips.extend(spec["clusterIP"].as_str());
        for key in ["clusterIPs", "externalIPs"] {
            ips.extend(
                spec[key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str),
            );
        }
        ips.extend(
            v["status"]["loadBalancer"]["ingress"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["ip"].as_str()),
        );
        for ip in ips {
            // Headless services ("None") have no address of their own.
            if let Ok(ip) = ip.parse() {
                self.insert(ip, r.clone(), Source::Kubectl);
            }
        }
        1
    }

    fn add_node(&mut self, v: &Value) -> usize {
        let Some(name) = v["metadata"]["name"].as_str() else {
            return 0;
        };
        let r = K8sRef {
            kind: "node",
            namespace: None,
            name: name.to_string(),
            workload: None,
            workload_kind: None,
            node: Some(name.to_string()),
        };
        for a in v["status"]["addresses"].as_array().into_iter().flatten() {
            if matches!(a["type"].as_str(), Some("InternalIP") | Some("ExternalIP")) {
                if let Some(Ok(ip)) = a["address"].as_str().map(str::parse) {
                    self.insert(ip, r.clone(), Source::Kubectl);
                }
            }
        }
        1
    }

    /// Learns a name from a Hubble flow endpoint (kubectl data wins).
    pub fn learn(&mut self, ip: IpAddr, r: K8sRef) {
        match self.by_ip.get_mut(&ip) {
            None => {
                self.by_ip.insert(ip, (r, Source::Hubble));
            }
            // The same pod seen again: keep what any record said of it.
            Some((old, Source::Hubble)) if old.name == r.name => {
                if old.workload.is_none() {
                    old.workload = r.workload;
                    old.workload_kind = r.workload_kind;
                }
                if old.namespace.is_none() {
                    old.namespace = r.namespace;
                }
            }
            Some((old, Source::Hubble)) => *old = r,
            Some(_) => {}
        }
    }
}

/// The controller of a pod from its owner references: a ReplicaSet named
/// `<deployment>-<pod-template-hash>` belongs to that Deployment.
fn pod_workload(meta: &Value) -> (Option<String>, Option<String>) {
    let owners = meta["ownerReferences"].as_array();
    let owner = owners.and_then(|o| {
        o.iter()
            .find(|r| r["controller"].as_bool() == Some(true))
            .or_else(|| o.first())
    });
    let Some(owner) = owner else {
        return (None, None);
    };
    let (Some(kind), Some(name)) = (owner["kind"].as_str(), owner["name"].as_str()) else {
        return (None, None);
    };
    if kind == "ReplicaSet" {
        if let Some(hash) = meta["labels"]["pod-template-hash"].as_str() {
            if let Some(dep) = name.strip_suffix(hash).and_then(|n| n.strip_suffix('-')) {
                return (Some(dep.to_string()), Some("Deployment".into()));
            }
        }
    }
    (Some(name.to_string()), Some(kind.to_string()))
}

/// Labels every flow endpoint the index knows.
pub fn label_flows(flows: &mut [crate::report::FlowRecord], index: &K8sIndex) {
    if index.is_empty() {
        return;
    }
    for f in flows {
        f.client_k8s = index.lookup(f.client.ip).cloned();
        f.server_k8s = index.lookup(f.server.ip).cloned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pods_services_and_nodes_are_named() {
        let list = json!({"kind": "List", "items": [
            {"kind": "Pod", "metadata": {"name": "api-7d9f8b6c5d-x2x9q", "namespace": "shop",
              "labels": {"pod-template-hash": "7d9f8b6c5d"},
              "ownerReferences": [{"kind": "ReplicaSet", "name": "api-7d9f8b6c5d", "controller": true}]},
             "spec": {"nodeName": "node-a"},
             "status": {"phase": "Running", "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}, {"ip": "fd00::5"}]}},
            {"kind": "Pod", "metadata": {"name": "db-0", "namespace": "shop",
              "ownerReferences": [{"kind": "StatefulSet", "name": "db", "controller": true}]},
             "spec": {"nodeName": "node-b"}, "status": {"phase": "Running", "podIP": "10.0.0.6"}},
            {"kind": "Pod", "metadata": {"name": "old", "namespace": "x"},
             "status": {"phase": "Succeeded", "podIP": "10.0.0.6"}},
            {"kind": "Pod", "metadata": {"name": "kube-proxy-abc", "namespace": "kube-system"},
             "spec": {"hostNetwork": true}, "status": {"phase": "Running", "podIP": "192.168.1.10"}},
            {"kind": "Service", "metadata": {"name": "api", "namespace": "shop"},
             "spec": {"clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20"]}},
            {"kind": "Service", "metadata": {"name": "headless", "namespace": "shop"},
             "spec": {"clusterIP": "None"}},
            {"kind": "Node", "metadata": {"name": "node-a"},
             "status": {"addresses": [{"type": "InternalIP", "address": "192.168.1.10"},
                                      {"type": "Hostname", "address": "node-a"}]}}
        ]});
        let mut ix = K8sIndex::default();
        assert_eq!(ix.add_kubectl(&list), 7);
        let api = ix.lookup("10.0.0.5".parse().unwrap()).unwrap();
        assert_eq!(
            (api.kind, api.label().as_str()),
            ("pod", "shop/api-7d9f8b6c5d-x2x9q")
        );
        assert_eq!(api.workload.as_deref(), Some("api"));
        assert_eq!(api.workload_kind.as_deref(), Some("Deployment"));
        assert_eq!(api.node.as_deref(), Some("node-a"));
        assert_eq!(ix.lookup("fd00::5".parse().unwrap()), Some(api));
        // A running pod wins over a finished one that had the same address.
        let db = ix.lookup("10.0.0.6".parse().unwrap()).unwrap();
        assert_eq!(
            (db.name.as_str(), db.workload_kind.as_deref()),
            ("db-0", Some("StatefulSet"))
        );
        assert_eq!(
            ix.lookup("10.96.0.20".parse().unwrap()).unwrap().kind,
            "service"
        );
        // The host-network pod's address is the node's.
        assert_eq!(
            ix.lookup("192.168.1.10".parse().unwrap()).unwrap().kind,
            "node"
        );
        assert_eq!(ix.len(), 5);
        // Hubble does not override kubectl.
        let mut other = api.clone();
        other.name = "wrong".into();
        ix.learn("10.0.0.5".parse().unwrap(), other.clone());
        assert_eq!(
            ix.lookup("10.0.0.5".parse().unwrap()).unwrap().name,
            "api-7d9f8b6c5d-x2x9q"
        );
        ix.learn("10.0.0.9".parse().unwrap(), other);
        assert_eq!(
            ix.lookup("10.0.0.9".parse().unwrap()).unwrap().name,
            "wrong"
        );
    }
}
