//! The devnet registry (portable core).
