"""Cutting source files into chunks along their syntax (tree-sitter), with line windows
for everything else. `chunk_file` is the entry point; `language_for_path` names a file's
language the way chunks and search filters do."""

from codeseek.chunking.chunker import chunk_file
from codeseek.chunking.languages import SUPPORTED_LANGUAGES, language_for_path

__all__ = ["SUPPORTED_LANGUAGES", "chunk_file", "language_for_path"]
