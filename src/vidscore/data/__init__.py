"""Dataset readers and builders: POP909, SymMV, MuVi-Sync, BGM909."""
