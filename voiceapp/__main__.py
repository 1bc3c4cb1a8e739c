from voiceapp.cli import main

main(prog_name="voiceapp")
