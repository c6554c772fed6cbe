//! The seeds' scenarios (../shared/seeds/), each as a named test on a scripted cluster.
