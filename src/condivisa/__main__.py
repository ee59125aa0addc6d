from condivisa.cli import app

app()
