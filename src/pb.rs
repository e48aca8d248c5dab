//! Generated protobuf and gRPC code, included once.
#![allow(clippy::all, clippy::pedantic, missing_docs)]

pub mod payscore {
    pub mod v1 {
        tonic::include_proto!("payscore.v1");
    }
    pub mod rail {
        pub mod v1 {
            tonic::include_proto!("payscore.rail.v1");
        }
    }
}

pub use payscore::rail::v1 as rail;
pub use payscore::v1;

/// Descriptor set of every service, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("payscore_descriptor");
