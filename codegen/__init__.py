"""tritium.codegen"""
