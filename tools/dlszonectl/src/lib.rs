//! dlszonectl
