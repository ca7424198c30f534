"""Task tokens: issuing and revoking them, the internal-secret and apply-back guards."""
