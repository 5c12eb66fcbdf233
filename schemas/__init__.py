"""The data contract: pydantic models for what comes in, pyarrow schemas for what goes out."""
