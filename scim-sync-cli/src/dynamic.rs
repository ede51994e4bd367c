//! Settings read at run time from the `SCIMConfig` Kubernetes resource. Built by issue #7;
//! nothing here works yet.
