//! Context detections: namespaces, environments, business hours, cluster networks, rotation sync (in progress).
