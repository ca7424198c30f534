"""Projects: the project repository, workspace creation, /api/projects."""
