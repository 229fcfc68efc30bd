//! Senders that deliver Feishu events to a hub the way Feishu does.
