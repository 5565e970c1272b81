"""UI pieces shared by the pages; each with its html/css/js beside it."""
