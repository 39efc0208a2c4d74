"""A simulated district: commune and district systems and the postal integration, driving the real
services over NATS on simulated time, with its own ground truth of which stages it made late."""
