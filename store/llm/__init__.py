"""Models in the loop (#16): endpoints, generation and judge jobs, drafts; through the official `openai` package."""
