//! AKS diagnostic records (`category` `kube-audit` / `kube-audit-admin`): the audit event is in
//! `properties.log`, as a JSON string (Event Hubs, storage) or as an object (some shippers
//! decode it).

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::cloud::azure::RawRecord;
use crate::json::describe_error;
use crate::managed::{inner_k8s_event, inner_k8s_object, not_an_event};
use crate::options::ParseOptions;
use crate::parser::{join, Parsed};

#[derive(Deserialize)]
struct RawProperties<'a> {
    #[serde(borrow)]
    log: Option<&'a RawValue>,
}

/// The cluster name of `/SUBSCRIPTIONS/…/MANAGEDCLUSTERS/<NAME>` (Azure upper-cases ids).
pub fn cluster_of(resource_id: &str) -> Option<String> {
    let upper = resource_id.to_ascii_uppercase();
    let at = upper.find("/MANAGEDCLUSTERS/")? + "/MANAGEDCLUSTERS/".len();
    resource_id[at..]
        .split('/')
        .next()
        .filter(|c| !c.is_empty())
        .map(str::to_ascii_lowercase)
}

/// One AKS record: its inner audit event.
pub(crate) fn parse<'a>(
    rec: RawRecord<'a>,
    opts: &'a ParseOptions,
    prefix: &str,
    out: &mut dyn FnMut(Parsed<'a>),
) {
    let cluster = rec
        .resource_id
        .as_ref()
        .and_then(|r| cluster_of(r.as_str()));
    let field = join(prefix, "properties.log");
    let Some(props) = rec.properties else {
        return out(Parsed::Error(not_an_event(prefix, "properties.log")));
    };
    let props: RawProperties<'a> = match serde_json::from_str(props.get()) {
        Ok(p) => p,
        Err(e) => {
            return out(Parsed::Error(describe_error::<RawProperties>(
                props.get(),
                e,
                &join(prefix, "properties"),
            )))
        }
    };
    let Some(log) = props.log else {
        return out(Parsed::Error(not_an_event(prefix, "properties.log")));
    };
    let text = log.get().trim_start();
    if text.starts_with('{') {
        inner_k8s_object(log.get(), opts, &field, cluster, out);
    } else if text.starts_with('"') {
        match serde_json::from_str::<String>(text) {
            Ok(s) => inner_k8s_event(&s, opts, &field, cluster.as_deref(), &mut |p| out(p)),
            Err(_) => out(Parsed::Error(not_an_event(prefix, "properties.log"))),
        }
    } else {
        out(Parsed::Error(not_an_event(prefix, "properties.log")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names() {
        assert_eq!(
            cluster_of("/SUBSCRIPTIONS/1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/PROD-AKS").as_deref(),
            Some("prod-aks")
        );
        assert_eq!(cluster_of("/SUBSCRIPTIONS/1/VAULTS/X"), None);
    }
}
