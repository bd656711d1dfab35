"""Running the CLI in-process."""

from vistamatch.cli import main


def run_cli(capsys, *argv):
    """main() with these arguments: (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err
